"""The indexed engine gives exactly the stock pycasbin Enforcer's decisions."""
from __future__ import annotations

import random

import casbin
import pytest

from authz.adapter import CustosAdapter
from authz.conf import MODEL_PATH
from authz.enforcer import CustosEnforcer
from authz.engine import PolicyIndex
from bench.authz_data import random_requests, write_to_db

pytestmark = pytest.mark.django_db(transaction=True)

EDGE_RULES = [
    # regex syntax, bare wildcard, parameters mid-path, act "*"
    ("p", ["dot", "tenant:1", "/files/a.b", "read"]),
    ("p", ["star", "tenant:1", "*", "read"]),
    ("p", ["param", "tenant:1", "/a/:x/b/:y", "write"]),
    ("p", ["any", "tenant:1", "/any/*", "*"]),
    ("p", ["user:5", "tenant:1", "/direct", "read"]),
    # a chain of roles below user:7: chain8 is 9 links away (reachable), chain9 is 10 (not:
    # Casbin's role manager stops at max_hierarchy_level = 10 subjects, the user included)
    *[("g", [f"chain{i}", f"chain{i + 1}", "tenant:1"]) for i in range(11)],
    ("p", ["chain8", "tenant:1", "/deep9", "read"]),
    ("p", ["chain9", "tenant:1", "/deep10", "read"]),
    ("g", ["user:7", "chain0", "tenant:1"]),
    # a cycle must not hang either engine
    ("g", ["cyc1", "cyc2", "tenant:1"]), ("g", ["cyc2", "cyc1", "tenant:1"]),
    ("g", ["user:8", "cyc1", "tenant:1"]), ("p", ["cyc2", "tenant:1", "/cyc", "read"]),
    ("g", ["user:9", "dot", "tenant:1"]), ("g", ["user:9", "star", "tenant:1"]),
    ("g", ["user:9", "param", "tenant:1"]), ("g", ["user:9", "any", "tenant:1"]),
]
EDGE_REQUESTS = [
    ("user:9", "tenant:1", "/files/a.b", "read"), ("user:9", "tenant:1", "/files/axb", "read"),
    ("user:9", "tenant:1", "/whatever/you/like", "read"), ("user:9", "tenant:1", "/a/1/b/2", "write"),
    ("user:9", "tenant:1", "/a/1/b/2/c", "write"), ("user:9", "tenant:1", "/a//b/2", "write"),
    ("user:9", "tenant:1", "/any/x/y", "approve"), ("user:9", "tenant:1", "/any", "read"),
    ("user:5", "tenant:1", "/direct", "read"), ("user:5", "tenant:1", "/direct\n", "read"),
    ("user:5", "tenant:1", "/direct", "read"), ("user:7", "tenant:1", "/deep9", "read"),
    ("user:7", "tenant:1", "/deep10", "read"), ("chain1", "tenant:1", "/deep10", "read"),
    ("user:8", "tenant:1", "/cyc", "read"), ("user:8", "tenant:1", "/nope", "read"),
    ("nobody", "tenant:1", "/direct", "read"), ("user:9", "platform", "/files/a.b", "read"),
]


def _stock() -> casbin.Enforcer:
    return casbin.Enforcer(str(MODEL_PATH), CustosAdapter())


def test_same_decisions_as_stock_enforcer_on_random_requests():
    write_to_db(tenants=10, policies=400, assignments=4000)
    from authz.services import _adapter

    for ptype, values in EDGE_RULES:
        _adapter.add_policies(ptype, ptype, [values])
    stock = _stock()
    ours = CustosEnforcer(use_watcher=False)
    ours.load()
    requests = random_requests(4000, tenants=10, assignments=4000) + EDGE_REQUESTS
    rnd = random.Random(3)
    # also ask about real rules verbatim, so plenty of requests are allowed
    policy = stock.get_policy()
    for _ in range(1000):
        sub, dom, obj, act = rnd.choice(policy)
        obj = obj.replace(":id", str(rnd.randrange(50))).replace(":item", "x").replace("*", "q/r")
        requests.append((sub, dom, obj, act if act != "*" else "write"))
    mismatches = [r for r in requests if stock.enforce(*r) != ours.enforce(*r)]
    assert mismatches == []
    decisions = [ours.enforce(*r) for r in requests]
    assert decisions.count(True) > 500 and decisions.count(False) > 500
    # the edge cases decide as Casbin's documentation says they should
    edge = {r: ours.enforce(*r) for r in EDGE_REQUESTS}
    assert edge[("user:9", "tenant:1", "/files/axb", "read")] is True  # '.' is a regex wildcard in keyMatch2
    assert edge[("user:7", "tenant:1", "/deep9", "read")] is True
    assert edge[("user:7", "tenant:1", "/deep10", "read")] is False  # beyond Casbin's hierarchy limit
    assert edge[("user:8", "tenant:1", "/cyc", "read")] is True


def test_index_answers_do_not_depend_on_row_order():
    rows = [(p, *(v + [None] * 4)[:4]) for p, v in EDGE_RULES]
    forward = PolicyIndex.from_rows(rows)
    backward = PolicyIndex.from_rows(list(reversed(rows)))
    for r in EDGE_REQUESTS:
        assert forward.enforce(*r) == backward.enforce(*r)
