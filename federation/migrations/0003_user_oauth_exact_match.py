"""Subjects and issuers are case-sensitive (OIDC Core 2: `sub` is compared as a string): on
MySQL/MariaDB, whose default collations ignore case, the two columns get a binary collation so
that "Alice" and "alice" at one issuer are two identities, never one. SQLite compares them
exactly already."""
from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    schema_editor.execute("ALTER TABLE user_oauth MODIFY issuer varchar(255) CHARACTER SET utf8mb4 "
                          "COLLATE utf8mb4_bin NOT NULL")
    schema_editor.execute("ALTER TABLE user_oauth MODIFY provider_uid varchar(255) CHARACTER SET utf8mb4 "
                          "COLLATE utf8mb4_bin NOT NULL")


class Migration(migrations.Migration):
    atomic = False  # MySQL's DDL is not transactional, and Django refuses it inside one
    dependencies = [("federation", "0002_providers_flows")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, atomic=False)]
