from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "zwm.ops"
    label = "zwm_ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from zwm.ops import metrics_dir

        metrics_dir.prepare()  # before prometheus_client is first imported
        from zwm.ops import metrics

        metrics.install()
