from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        from . import metrics  # noqa: F401 - registers the scrape-time gauges
