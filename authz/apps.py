from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "authz"

    def ready(self) -> None:
        from accounts.selectors import me_contributor

        from .selectors import user_roles

        me_contributor("roles")(lambda user: user_roles(user_id=user.pk, tenant_id=user.tenant_id))
