from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    label = "sessions_app"

    def ready(self) -> None:
        from . import (
            console_panels,  # noqa: F401 - its panel of the console's user page
            receivers,  # noqa: F401 - connects to accounts' signals
            schema,  # noqa: F401 - OpenAPI description of the bearer scheme
        )
