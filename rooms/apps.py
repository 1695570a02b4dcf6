from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing connects the receivers: the recorder to signaling's lifecycle signals, the resolver's cache
        # to Room saves and deletes; and registers the system checks.
        from rooms import checks, recorder, resolver  # noqa: F401
