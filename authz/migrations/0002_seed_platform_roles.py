from django.db import migrations

from authz.builtin import PLATFORM_ROLES
from authz.models import rule_key


def seed(apps, schema_editor):
    CasbinRule = apps.get_model("authz", "CasbinRule")
    for role, perms in PLATFORM_ROLES.items():
        for obj, act in perms:
            values = [role, "platform", obj, act]
            CasbinRule.objects.get_or_create(rule_key=rule_key("p", values),
                                             defaults=dict(ptype="p", v0=role, v1="platform", v2=obj, v3=act))


class Migration(migrations.Migration):
    dependencies = [("authz", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
