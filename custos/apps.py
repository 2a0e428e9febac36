from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _private_sqlite_file(sender, using="default", **kwargs) -> None:
    """The embedded database holds password hashes: readable by its owner only."""
    import os

    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return
    name = str(conn.settings_dict["NAME"])
    for path in (name, f"{name}-wal", f"{name}-shm"):
        if os.path.exists(path):
            os.chmod(path, 0o600)


class CustosConfig(AppConfig):
    name = "custos"
    verbose_name = "Custos core"

    def ready(self) -> None:
        post_migrate.connect(_private_sqlite_file, dispatch_uid="custos.private_sqlite_file")
