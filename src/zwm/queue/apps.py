from django.apps import AppConfig


class QueueConfig(AppConfig):
    name = "zwm.queue"
    label = "zwm_queue"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"
