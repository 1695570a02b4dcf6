from django.apps import AppConfig


class SignalingConfig(AppConfig):
    name = "signaling"
    verbose_name = "Signaling"

    def ready(self) -> None:
        from signaling import (
            checks,  # noqa: F401  (registers the system checks)
            handshake,
            metrics,
            serving,
        )
        from signaling.admission import get_admission
        from signaling.conf import conf
        from signaling.drain import is_draining
        from signaling.live import sfu_node_loads
        from signaling.registry import get_registry
        from signaling.sfu import room_end  # noqa: F401  (destroys the Janus room of an SFU room that ended)

        handshake.install()  # under daphne: a deadline for each request head
        serving.install(conf.TUNE_SERVER)  # under daphne: what each socket costs there, cut
        metrics.observe_live_state(
            peers=lambda: get_registry().local_counts()[0],
            rooms=lambda: get_registry().local_counts()[1],
            parked=lambda: get_registry().parked_count(),
            sockets=lambda: get_admission().sockets,
            draining=lambda: float(is_draining()),
        )
        metrics.observe_sfu_nodes(sfu_node_loads)
