from django.db import migrations

from authz.models import rule_key


def seed(apps, schema_editor):
    CasbinRule = apps.get_model("authz", "CasbinRule")
    for obj, act in (("/authz/check", "check"), ("/internal/*", "read")):
        values = ["gateway", "platform", obj, act]
        CasbinRule.objects.get_or_create(rule_key=rule_key("p", values),
                                         defaults=dict(ptype="p", v0="gateway", v1="platform", v2=obj, v3=act))


class Migration(migrations.Migration):
    dependencies = [("authz", "0002_seed_platform_roles")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
