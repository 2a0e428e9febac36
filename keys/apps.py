from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"

    def ready(self) -> None:
        from . import metrics  # noqa: F401 - registers the scrape-time gauges
