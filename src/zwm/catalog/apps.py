from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "zwm.catalog"
    label = "catalog"
    verbose_name = "Zuora catalog"
    default_auto_field = "django.db.models.BigAutoField"
