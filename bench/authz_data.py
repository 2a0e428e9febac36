"""A synthetic multi-tenant policy for the authorization benchmark and equivalence test:
T tenants, each with R roles (a small hierarchy), P/T permissions spread over the roles
(exact paths, `:id` parameters and `/*` wildcards, a few `*` actions), and A/T users, each
holding one or two roles in their tenant."""
from __future__ import annotations

import random
from collections.abc import Iterator

ACTIONS = ("read", "write", "delete", "approve")
RESOURCES = ("orders", "invoices", "users", "reports", "products", "shipments", "refunds", "coupons",
             "stores", "tickets")


def rules(*, tenants: int, policies: int, assignments: int, seed: int = 7) -> Iterator[tuple[str, list[str]]]:
    rnd = random.Random(seed)
    per_tenant_p = max(1, policies // tenants)
    per_tenant_users = max(1, assignments // tenants)
    roles = [f"role{i}" for i in range(10)]
    for t in range(tenants):
        dom = f"tenant:{t + 1}"
        # hierarchy: role0 > role1 > role2 (role0 inherits role1 ...)
        yield "g", ["role0", "role1", dom]
        yield "g", ["role1", "role2", dom]
        for i in range(per_tenant_p):
            role = roles[i % len(roles)]
            res = RESOURCES[(i // len(roles)) % len(RESOURCES)]
            shape = i % 4
            obj = {0: f"/{res}", 1: f"/{res}/:id", 2: f"/{res}/*", 3: f"/{res}/:id/items/:item"}[shape]
            act = "*" if i % 17 == 0 else ACTIONS[i % len(ACTIONS)]
            yield "p", [role, dom, obj, act]
        for u in range(per_tenant_users - 2 if t == 0 else per_tenant_users):
            uid = t * per_tenant_users + u + 1  # user ids start at 1, as real ones do
            yield "g", [f"user:{uid}", roles[rnd.randrange(len(roles))], dom]
    # platform staff (the platform_admin role itself is seeded by a migration)
    yield "g", ["user:1", "platform_admin", "platform"]


def random_requests(n: int, *, tenants: int, assignments: int, seed: int = 11) -> list[tuple[str, str, str, str]]:
    rnd = random.Random(seed)
    per_tenant_users = max(1, assignments // tenants)
    out = []
    for _ in range(n):
        t = rnd.randrange(tenants)
        # mostly users of that tenant, sometimes someone else's user or a role name
        if rnd.random() < 0.8:
            sub = f"user:{t * per_tenant_users + rnd.randrange(per_tenant_users) + 1}"
        elif rnd.random() < 0.5:
            sub = f"user:{rnd.randrange(assignments) + 1}"
        else:
            sub = f"role{rnd.randrange(10)}"
        dom = f"tenant:{t + 1}" if rnd.random() < 0.95 else "platform"
        res = RESOURCES[rnd.randrange(len(RESOURCES))]
        obj = rnd.choice([f"/{res}", f"/{res}/{rnd.randrange(999)}", f"/{res}/{rnd.randrange(99)}/items/3",
                          f"/{res}/a/b/c", f"/{res}s", "/", f"/{res}/"])
        out.append((sub, dom, obj, rnd.choice(ACTIONS)))
    return out


def write_to_db(*, tenants: int, policies: int, assignments: int, seed: int = 7, batch: int = 20000) -> int:
    """Insert the synthetic policy into casbin_rule with raw executemany (fast at 1M rows)."""
    from django.db import connection, transaction

    from authz.models import rule_key

    sql = ("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, rule_key) VALUES (%s, %s, %s, %s, %s, %s)")
    n = 0
    buf: list[tuple] = []
    with transaction.atomic(), connection.cursor() as cur:
        for ptype, values in rules(tenants=tenants, policies=policies, assignments=assignments, seed=seed):
            v = (values + [None, None, None, None])[:4]
            buf.append((ptype, v[0], v[1], v[2], v[3], rule_key(ptype, values)))
            if len(buf) >= batch:
                cur.executemany(sql, buf)
                n += len(buf)
                buf.clear()
        if buf:
            cur.executemany(sql, buf)
            n += len(buf)
    return n
