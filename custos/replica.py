"""Reads that may go to a MariaDB replica (CUSTOS_DATABASE_REPLICA_URL; docs/scaling.md).

Nothing is routed there implicitly (no database router): a read goes to the replica only where
its caller says so with `.using(read_alias())`, because most of Custos must read its own writes
at once. Allowed: the console's lists (a list a second behind is fine; the page that changes
a row reads the primary) and the audit export (with the lag check below). Never on the token
path: sign-in, refresh, the revocation feed, introspection and authorization read the primary."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connections

REPLICA = "replica"
log = logging.getLogger("custos.replica")


def read_alias() -> str:
    """The alias for reads a replica may serve: the replica when one is configured."""
    return REPLICA if REPLICA in settings.DATABASES else "default"


def replica_lag() -> float | None:
    """Seconds the replica is behind its primary: 0 when there is no replica (or it is not
    replicating, i.e. it is a primary itself); None when replication is broken or the replica
    cannot be asked, and then callers read the primary."""
    if REPLICA not in settings.DATABASES:
        return 0.0
    conn = connections[REPLICA]
    if conn.vendor != "mysql":
        return 0.0
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")  # MariaDB's name; SHOW REPLICA STATUS since 10.5 too
            row = cur.fetchone()
            if row is None:
                return 0.0
            names = [d[0] for d in cur.description]
    except DatabaseError as exc:
        log.warning("replica lag unknown", extra={"error": type(exc).__name__})
        return None
    behind = dict(zip(names, row, strict=False)).get("Seconds_Behind_Master")
    return float(behind) if behind is not None else None


def alias_within(max_lag: float) -> str:
    """The replica if it is at most `max_lag` seconds behind, else the primary."""
    if REPLICA not in settings.DATABASES:
        return "default"
    lag = replica_lag()
    return REPLICA if lag is not None and lag <= max_lag else "default"
