"""The engine under concurrent reloads, the adapter's batch/update/filtered operations, and
policy changes reaching other processes."""
from __future__ import annotations

import threading
import time

import casbin
import pytest
import requests

from authz.adapter import CustosAdapter, DomainFilter
from authz.conf import MODEL_PATH
from authz.enforcer import CustosEnforcer
from authz.engine import PolicyIndex
from authz.models import CasbinRule
from tests.server import running_custos

pytestmark = pytest.mark.django_db(transaction=True)


def test_checks_stay_correct_while_domains_reload():
    """Readers never see half a domain and never crash while writers swap domains.

    In both generations user:5 may read /docs/1, through a different role; a reader that saw
    one generation's assignments with the other's permissions would be denied."""
    gen_a = [("g", f"user:{i}", "reader", "tenant:1", None) for i in range(3000)]
    gen_a.append(("p", "reader", "tenant:1", "/docs/:id", "read"))
    gen_b = [("g", f"user:{i}", "writer", "tenant:1", None) for i in range(3000)]
    gen_b.append(("p", "writer", "tenant:1", "/docs/:id", "read"))
    idx = PolicyIndex.from_rows(gen_a)
    errors: list[BaseException] = []
    denied = [0]
    checks = [0, 0, 0]
    swaps = [0]
    readers_done = threading.Event()
    # The run is bounded by work done, not by wall time: each reader keeps checking until it has
    # made its share of checks *and* the writer has swapped often enough for the two to overlap,
    # so a slow machine takes longer instead of failing. The deadline only catches a hang.
    deadline = time.monotonic() + 120

    def reader(n: int) -> None:
        try:
            while (checks[n] < 1000 or swaps[0] < 20) and time.monotonic() < deadline:
                checks[n] += 1
                if not idx.enforce("user:5", "tenant:1", "/docs/1", "read"):
                    denied[0] += 1
                idx.roles_of("user:5", "tenant:1")
                idx.role_names("tenant:1")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def writer() -> None:
        while not readers_done.is_set() and time.monotonic() < deadline:
            idx.replace_domains(["tenant:1"], gen_b if swaps[0] % 2 == 0 else gen_a)
            swaps[0] += 1

    readers = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    writer_thread = threading.Thread(target=writer)
    for t in [*readers, writer_thread]:
        t.start()
    for t in readers:
        t.join()
    readers_done.set()
    writer_thread.join()
    assert errors == [] and denied[0] == 0
    assert time.monotonic() < deadline, f"readers stalled: {checks} checks, {swaps[0]} swaps"
    assert swaps[0] >= 20 and min(checks) >= 1000


def test_adapter_batch_update_and_filtered_loading():
    adapter = CustosAdapter()
    e = casbin.Enforcer(str(MODEL_PATH), adapter)
    assert e.add_policies([["r1", "tenant:1", "/a", "read"], ["r1", "tenant:2", "/b", "read"]])
    assert CasbinRule.objects.filter(ptype="p").count() >= 2  # the stock Django adapter writes nothing here
    assert e.add_grouping_policies([["user:1", "r1", "tenant:1"], ["user:2", "r1", "tenant:2"]])
    # duplicates are refused by the table, not only by the in-memory model
    adapter.add_policies("p", "p", [["r1", "tenant:1", "/a", "read"]])
    assert CasbinRule.objects.filter(v0="r1", v1="tenant:1", v2="/a").count() == 1
    assert e.update_policy(["r1", "tenant:1", "/a", "read"], ["r1", "tenant:1", "/a", "write"])
    assert CasbinRule.objects.filter(v0="r1", v1="tenant:1", v2="/a", v3="write").exists()
    assert not CasbinRule.objects.filter(v0="r1", v1="tenant:1", v2="/a", v3="read").exists()

    filtered = casbin.Enforcer(str(MODEL_PATH), CustosAdapter())
    filtered.load_filtered_policy(DomainFilter(domains=("tenant:2",)))
    assert filtered.is_filtered()
    assert filtered.enforce("user:2", "tenant:2", "/b", "read")
    assert not filtered.enforce("user:1", "tenant:1", "/a", "write")  # not loaded
    full = casbin.Enforcer(str(MODEL_PATH), CustosAdapter())
    assert full.enforce("user:1", "tenant:1", "/a", "write")
    assert e.remove_filtered_policy(1, "tenant:2")
    assert not CasbinRule.objects.filter(ptype="p", v1="tenant:2").exists()


def test_in_process_enforcer_reloads_changed_domains():
    from accounts.services import tenant_create
    from audit.services import Actor
    from authz.enforcer import enforcer
    from authz.services import role_create, subject_role_grant

    dom = f"tenant:{tenant_create(name='nine', actor=Actor.system('t')).pk}"
    e = enforcer()
    assert not e.enforce("user:1", dom, "/x", "read")
    role_create(name="viewer", domain=dom, permissions=[("/x", "read")], actor=Actor.system("t"))
    subject_role_grant(subject="user:1", role="viewer", domain=dom, actor=Actor.system("t"))
    assert e.enforce("user:1", dom, "/x", "read")
    # a second engine in this process, polling like another worker would
    other = CustosEnforcer(use_watcher=False)
    other.load()
    assert other.enforce("user:1", dom, "/x", "read")
    from authz.services import subject_role_revoke

    subject_role_revoke(subject="user:1", role="viewer", domain=dom, actor=Actor.system("t"))
    assert not e.enforce("user:1", dom, "/x", "read")
    time.sleep(0.6)
    assert not other.enforce("user:1", dom, "/x", "read")


def test_policy_changes_reach_every_worker_within_a_second(tmp_path):
    """Three gunicorn workers: embedded default (change-table polling) or, with
    CUSTOS_TEST_SERVICES=1, MariaDB and the Redis watcher."""
    from tests.server import manage

    with running_custos(tmp_path, workers=3) as base:
        out = manage(tmp_path, "shell", "-c", (
            "from audit.services import Actor; from authz import services as s;"
            "k, c = s.service_key_create(name='gw', actor=Actor.system('t'));"
            "s.role_create(name='gw', domain='platform', permissions=[('/authz/check', 'check')],"
            " actor=Actor.system('t'));"
            "s.subject_role_grant(subject='svc:gw', role='gw', domain='platform', actor=Actor.system('t'));"
            "print(c)"))
        headers = {"Authorization": f"ApiKey {out.strip().splitlines()[-1]}", "Connection": "close"}
        check = {"subject": "user:42", "tenant": 5, "object": "/reports/1", "action": "read"}

        def answers() -> set[bool]:
            got = set()
            for _ in range(24):
                r = requests.post(f"{base}/v1/authz/check", json=check, headers=headers, timeout=10)
                assert r.status_code == 200, r.text
                got.add(r.json()["allowed"])
            return got

        assert answers() == {False}  # every worker has loaded the policy
        manage(tmp_path, "shell", "-c", (
            "from audit.services import Actor; from authz import services as s;"
            "from accounts.services import tenant_create;"
            "[tenant_create(name=f't{i}', actor=Actor.system('t')) for i in range(5)];"
            "s.role_create(name='rep', domain='tenant:5', permissions=[('/reports/:id', 'read')],"
            " actor=Actor.system('t'));"
            "s.subject_role_grant(subject='user:42', role='rep', domain='tenant:5', actor=Actor.system('t'))"))
        time.sleep(1.0)
        assert answers() == {True}
