from django.apps import AppConfig


def _signing_key_ready() -> bool:
    from .selectors import keyring

    return keyring().signing_key() is not None


class KeysConfig(AppConfig):
    name = "keys"

    def ready(self) -> None:
        from custos import health

        from . import metrics  # noqa: F401 - registers the scrape-time gauges

        health.register("signing_key", _signing_key_ready)
