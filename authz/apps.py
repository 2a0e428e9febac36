from django.apps import AppConfig


class AuthzConfig(AppConfig):
    name = "authz"

    def ready(self) -> None:
        from custos import policy

        from . import schema  # noqa: F401 - OpenAPI description of the ApiKey scheme
        from .permissions import CasbinPolicyProvider

        policy.install(CasbinPolicyProvider())
        from custos.middleware import request_denied

        from .denials import record_denial

        request_denied.connect(record_denial, dispatch_uid="authz.record_denial")
        from accounts.selectors import me_contributor

        from .selectors import user_roles

        me_contributor("roles")(lambda user: user_roles(user_id=user.pk, tenant_id=user.tenant_id))

        from accounts.signals import tenant_created

        from . import services

        tenant_created.connect(lambda sender, tenant_id, **kw: services.tenant_roles_seed(tenant_id=tenant_id),
                               weak=False, dispatch_uid="authz.seed_tenant_roles")

        from accounts.signals import user_merged

        from .merge import roles_merge

        user_merged.connect(roles_merge, weak=False, dispatch_uid="authz.roles_merge")

        from . import console_panels  # noqa: F401 - its panel of the console's user page
