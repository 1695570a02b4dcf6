from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing connects the receivers: the recorder to signaling's lifecycle signals, the resolver's cache
        # to Room saves and deletes, the connection test reports to their rows; and registers the system checks.
        from rooms import checks, connection_tests, recorder, resolver  # noqa: F401
