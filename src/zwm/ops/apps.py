from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "zwm.ops"
    label = "zwm_ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"
