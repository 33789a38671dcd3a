from django.apps import AppConfig


class QueueConfig(AppConfig):
    name = "zwm.queue"
    label = "zwm_queue"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Provide the ``sync`` connection, which runs jobs in-process (it needs the models)."""
        from zwm.queue import inprocess  # noqa: F401 - registers the connection on import
