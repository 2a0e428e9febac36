"""/internal/revocations and /internal/introspect for Clotho."""
from __future__ import annotations

import pytest

from audit.services import Actor
from tests.conftest import bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway_headers(db):
    from authz.services import platform_roles_seed, service_key_create, subject_role_grant

    platform_roles_seed()
    _, credential = service_key_create(name="clotho", actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=Actor.system("test"))
    return {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}


def test_revocation_feed_with_cursor(api, signing_key, gateway_headers):
    from sessions_app.services import force_logout_user

    alice, bob = UserFactory(), UserFactory()
    a, b = login(api, alice.username), login(api, bob.username)
    first = api.get("/internal/revocations", **gateway_headers)
    assert first.status_code == 200
    assert first.json()["users"] == [] and first.json()["sessions"] == []
    api.post("/v1/auth/logout", **bearer(a["access_token"]))
    force_logout_user(user_id=bob.pk, actor=Actor.system("test"))
    r = api.get(f"/internal/revocations?since={first.json()['cursor']}", **gateway_headers)
    body = r.json()
    assert a["session_id"] in body["sessions"] and b["session_id"] in body["sessions"]
    assert {"user_id": bob.pk, "min_token_version": 1} in body["users"]
    assert api.get("/internal/revocations?since=garbage", **gateway_headers).status_code == 400
    # a signed-in user without the gateway role may not read it: a live token (not the logged-out
    # one above, whose 401 would hide a missing permission check) gets 403
    bystander = login(api, UserFactory().username)["access_token"]
    assert api.get("/v1/users/me", **bearer(bystander)).status_code == 200
    r = api.get("/internal/revocations", **bearer(bystander))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    r = api.post("/internal/introspect", {"token": bystander}, format="json", **bearer(bystander))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    # nor may a service without it
    from authz.services import service_key_create

    _, other = service_key_create(name="billing", actor=Actor.system("test"))
    assert api.get("/internal/revocations", HTTP_AUTHORIZATION=f"ApiKey {other}").status_code == 403


def test_introspection(api, signing_key, gateway_headers):
    user = UserFactory()
    pair = login(api, user.username)
    r = api.post("/internal/introspect", {"token": pair["access_token"]}, format="json", **gateway_headers)
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    body = r.json()
    assert body["active"] is True and body["sub"] == str(user.pk) and body["sid"] == pair["session_id"]
    api.post("/v1/auth/logout", **bearer(pair["access_token"]))
    r = api.post("/internal/introspect", {"token": pair["access_token"]}, format="json", **gateway_headers)
    assert r.json() == {"active": False}
    r = api.post("/internal/introspect", {"token": "garbage"}, format="json", **gateway_headers)
    assert r.json() == {"active": False}
    r = api.post("/internal/introspect", {"token": pair["refresh_token"]}, format="json", **gateway_headers)
    assert r.json() == {"active": False}
    assert api.post("/internal/introspect", {"token": 5}, format="json", **gateway_headers).status_code == 400
