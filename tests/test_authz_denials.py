"""403 authorization denials reach the audit trail, aggregated per principal, permission and
window so that a scan cannot flood the outbox (authz.denials, docs/audit.md)."""
from __future__ import annotations

import pytest

from accounts.services import tenant_create
from audit.models import AuditEvent
from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_tenants(api, signing_key):
    from authz.services import platform_roles_seed

    platform_roles_seed()
    t1 = tenant_create(name="acme", actor=Actor.system("test"))
    t2 = tenant_create(name="globex", actor=Actor.system("test"))
    admin1, member1 = UserFactory(tenant=t1), UserFactory(tenant=t1)
    grant(admin1, "tenant_admin", t1.pk)
    return {"t1": t1, "t2": t2, "admin1": admin1, "member1": member1,
            "tok": login(api, admin1.username)["access_token"],
            "member_tok": login(api, member1.username)["access_token"]}


def _denials():
    return list(AuditEvent.objects.filter(action="authz.denied").order_by("id"))


def test_a_denial_is_recorded_with_principal_permission_and_domain(api, two_tenants):
    w = two_tenants
    r = api.get(f"/v1/authz/roles?tenant={w['t2'].pk}", HTTP_USER_AGENT="scanner/1", **bearer(w["tok"]))
    assert r.status_code == 403
    [ev] = _denials()
    assert ev.result == "denied" and ev.actor_type == "user" and ev.actor_id == str(w["admin1"].pk)
    assert ev.subject_user_id == w["admin1"].pk and ev.tenant_id == w["t1"].pk  # in the caller's tenant's trail
    assert ev.user_agent == "scanner/1" and ev.request_id == r["X-Request-Id"]
    assert ev.metadata["object"] == "/authz/roles" and ev.metadata["act"] == "read"
    assert ev.metadata["domain"] == f"tenant:{w['t2'].pk}" and ev.metadata["count"] == 1
    assert ev.metadata["method"] == "GET" and ev.metadata["window_seconds"] == 60
    # the tenant's own admin reads it in the trail
    r = api.get("/v1/audit/events?action=authz.denied", **bearer(w["tok"]))
    assert [e["event_id"] for e in r.json()["results"]] == [str(ev.event_id)]


def test_a_scan_is_counted_not_flooded(api, two_tenants, monkeypatch):
    """250 denials of one permission in one window, across as many tenants and ids as the scanner
    likes, are three events (counts 1, 10, 100); another permission is its own count; the
    next window starts again."""
    from authz import denials

    w = two_tenants
    clock = [1_000_000_020.0]
    monkeypatch.setattr(denials, "_now", lambda: clock[0])
    for i in range(250):
        assert api.get(f"/v1/authz/roles?tenant={w['t2'].pk + i}", **bearer(w["tok"])).status_code == 403
    assert [e.metadata["count"] for e in _denials()] == [1, 10, 100]
    assert {e.metadata["object"] for e in _denials()} == {"/authz/roles"}
    assert api.post("/v1/authz/roles", {"name": "x", "tenant": w["t2"].pk, "permissions": []}, format="json",
                    **bearer(w["tok"])).status_code == 403
    assert [(e.metadata["act"], e.metadata["count"]) for e in _denials()][-1] == ("write", 1)
    clock[0] += 60
    assert api.get(f"/v1/authz/roles?tenant={w['t2'].pk}", **bearer(w["tok"])).status_code == 403
    last = _denials()[-1]
    assert last.metadata["count"] == 1 and last.metadata["window_start"] == "2001-09-09T01:48:00+00:00"
    assert len(_denials()) == 5


def test_denials_on_every_door(api, two_tenants):
    """The lean /v1/authz/check path, a service key, a DRF permission class and a rule in code
    (minting staff) are all recorded; their permission is the one that was missing."""
    from authz.services import service_key_create

    w = two_tenants
    r = api.post("/v1/authz/check", {"subject": w["admin1"].pk, "tenant": w["t1"].pk, "object": "/x",
                                     "action": "read"}, format="json", **bearer(w["member_tok"]))
    assert r.status_code == 403
    ev = _denials()[-1]
    assert ev.actor_id == str(w["member1"].pk) and ev.metadata["object"] == "/authz/check"
    _, credential = service_key_create(name="billing", actor=Actor.system("test"))
    assert api.get("/internal/revocations", HTTP_AUTHORIZATION=f"ApiKey {credential}").status_code == 403
    ev = _denials()[-1]
    assert (ev.actor_type, ev.actor_id, ev.subject_user_id, ev.tenant_id) == ("service", "billing", None, None)
    assert ev.metadata["object"] == "/internal/revocations" and ev.metadata["domain"] == "platform"
    assert api.get("/v1/admin/users", **bearer(w["member_tok"])).status_code == 403
    assert _denials()[-1].metadata["object"] == "/users"
    r = api.post("/v1/admin/users", {"username": "mole", "user_type": "staff"}, format="json", **bearer(w["tok"]))
    assert r.status_code == 403
    ev = _denials()[-1]
    assert ev.metadata["object"] == "/users" and ev.metadata["act"] == "write" and ev.metadata["domain"] == "platform"


def test_what_is_not_a_denial_is_not_recorded(api, two_tenants):
    w = two_tenants
    other = UserFactory(tenant=w["t2"])
    # a target outside the caller's reach is a 404, whatever checks said no on the way
    assert api.get(f"/v1/admin/users/{other.pk}", **bearer(w["tok"])).status_code == 404
    assert api.get(f"/v1/authz/users/{other.pk}/roles?tenant={w['t1'].pk}", **bearer(w["tok"])).status_code == 404
    # a 403 that is not about permissions (re-authentication required)
    r = api.delete("/v1/users/me", **bearer(w["member_tok"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauth_required"
    # an unauthenticated caller is a 401
    assert api.get("/v1/admin/users").status_code == 401
    # allowed requests
    assert api.get(f"/v1/authz/roles?tenant={w['t1'].pk}", **bearer(w["tok"])).status_code == 200
    assert _denials() == []


def test_a_failed_recording_never_changes_the_answer(api, two_tenants, monkeypatch):
    from authz import denials

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(denials, "event_record", broken)
    r = api.get(f"/v1/authz/roles?tenant={two_tenants['t2'].pk}", **bearer(two_tenants["tok"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
