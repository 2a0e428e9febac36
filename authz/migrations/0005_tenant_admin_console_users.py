"""Existing tenants' tenant_admin role gets the console's user permissions (authz/builtin.py
TENANT_CONSOLE_USER_ACTIONS); new tenants get them from tenant_roles_seed."""
from django.db import migrations

from authz.models import rule_key

ACTIONS = ("view", "add", "change", "freeze", "activate", "lock", "unlock", "delete", "forcelogout", "resetmfa",
           "resetpassword", "revokesession", "unbindidentity", "grantrole", "revokerole")
OBJECT = "/admin/accounts/user"


def forward(apps, schema_editor):
    CasbinRule = apps.get_model("authz", "CasbinRule")
    PolicyChange = apps.get_model("authz", "PolicyChange")
    Tenant = apps.get_model("accounts", "Tenant")
    from django.utils import timezone

    for tenant_id in Tenant.objects.values_list("pk", flat=True).iterator():
        domain = f"tenant:{tenant_id}"
        for act in ACTIONS:
            values = ["tenant_admin", domain, OBJECT, act]
            CasbinRule.objects.get_or_create(rule_key=rule_key("p", values),
                                             defaults=dict(ptype="p", v0="tenant_admin", v1=domain, v2=OBJECT, v3=act))
        # running processes reload the domain (the watcher's change table)
        PolicyChange.objects.create(domain=domain, created_at=timezone.now())


def backward(apps, schema_editor):
    CasbinRule = apps.get_model("authz", "CasbinRule")
    CasbinRule.objects.filter(ptype="p", v0="tenant_admin", v1__startswith="tenant:", v2=OBJECT,
                              v3__in=ACTIONS).delete()


class Migration(migrations.Migration):
    dependencies = [("authz", "0004_console_role_why_proxies"), ("accounts", "0005_console_setup")]
    operations = [migrations.RunPython(forward, backward)]
