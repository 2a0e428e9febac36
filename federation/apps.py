from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"

    def ready(self) -> None:
        from accounts.selectors import me_contributor

        from .selectors import identities_of

        me_contributor("identities")(lambda user: identities_of(user_id=user.pk))
