"""Register, login, me, sessions, logout and force-logout as API.md describes them."""
from __future__ import annotations

import re

import pytest

from accounts.models import User
from audit.models import AuditEvent
from sessions_app.models import Session
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_register_then_login_then_me(api, signing_key, mailoutbox):
    r = api.post("/v1/auth/register", {"username": "Alice", "email": "Alice@EXAMPLE.com",
                                       "password": "a long enough passphrase", "nickname": "Al"}, format="json")
    assert r.status_code == 201, r.content
    user = r.json()["user"]
    assert user["username"] == "alice" and user["status"] == "active" and user["user_type"] == "customer"
    # the address given at sign-up gets a code; until it comes back the address opens nothing
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["Alice@example.com"]
    code = re.search(r"\b(\d{6})\b", mailoutbox[0].body).group(1)
    r = api.post("/v1/auth/login", {"username": "alice@example.com", "password": "a long enough passphrase"},
                 format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = api.post("/v1/users/me/email/verify", {"email": "alice@EXAMPLE.com", "code": code}, format="json")
    assert r.status_code == 200 and r.json() == {"verified": "email"}

    # the email's domain is normalized, so either spelling logs in
    pair = login(api, "alice@example.COM", "a long enough passphrase")
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    assert pair["refresh_expires_in"] > 0 and pair["user"]["id"] == user["id"]

    me = api.get("/v1/users/me", **bearer(pair["access_token"]))
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "Alice@example.com" and body["email_verified"] is True and body["phone_verified"] is False
    assert body["profile"]["nickname"] == "Al"
    assert body["roles"] == [] and body["mfa_enabled"] is False and body["identities"] == []


def test_register_conflict_and_validation(api, user):
    r = api.post("/v1/auth/register", {"username": user.username, "password": "another good passphrase"},
                 format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_exists"
    # the local part's case is kept as typed but not significant (accounts.selectors: matched as
    # mail providers do), so the same address in other case is taken; the domain's never counts
    for spelling in (user.email.upper().replace("EXAMPLE.COM", "example.com"), user.email.upper()):
        r = api.post("/v1/auth/register", {"email": spelling}, format="json")
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_exists", spelling
    assert User.objects.filter(email__iexact=user.email).count() == 1
    r = api.post("/v1/auth/register", {"nickname": "nobody"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    r = api.post("/v1/auth/register", {"username": "bob", "password": "password"}, format="json")
    assert r.status_code == 400 and "password" in r.json()["error"]["fields"]
    assert not User.objects.filter(username="bob").exists()


def test_token_responses_are_not_cached(api, user, signing_key):
    r = api.post("/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert r["Cache-Control"] == "no-store"


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}


def test_login_failures_are_indistinguishable(api, signing_key, monkeypatch):
    from accounts.hashers import PinnedArgon2PasswordHasher

    calls = []
    real_verify = PinnedArgon2PasswordHasher.verify
    monkeypatch.setattr(PinnedArgon2PasswordHasher, "verify",
                        lambda self, pw, enc: calls.append(1) or real_verify(self, pw, enc))
    frozen = UserFactory(status=User.Status.DISABLED)
    deleted = UserFactory(status=User.Status.DELETED)
    alive = UserFactory()
    answers = []
    for username in ("nobody-at-all", alive.username, frozen.username, deleted.username):
        calls.clear()
        r = api.post("/v1/auth/login", {"username": username, "password": "wrong password!"}, format="json")
        assert len(calls) == 1, f"{username}: {len(calls)} hashes"
        answers.append((r.status_code, _strip(r.json())))
    assert all(a == answers[0] for a in answers), answers
    assert answers[0][0] == 401 and answers[0][1]["error"]["code"] == "invalid_credentials"

    r = api.post("/v1/auth/login", {"username": frozen.username, "password": PASSWORD}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    r = api.post("/v1/auth/login", {"username": deleted.username, "password": PASSWORD}, format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"


def test_sessions_list_and_delete_own_only(api, signing_key):
    alice, bob = UserFactory(), UserFactory()
    a1 = login(api, alice.username, HTTP_USER_AGENT="phone", HTTP_X_DEVICE_ID="dev-1")
    a2 = login(api, alice.username, HTTP_USER_AGENT="laptop")
    b1 = login(api, bob.username)
    r = api.get("/v1/sessions", **bearer(a1["access_token"]))
    rows = r.json()["results"]
    assert {s["session_id"] for s in rows} == {a1["session_id"], a2["session_id"]}
    current = [s for s in rows if s["current"]]
    assert len(current) == 1 and current[0]["session_id"] == a1["session_id"]
    assert current[0]["device_id"] == "dev-1" and current[0]["user_agent"] == "phone"

    # someone else's session is not found, not forbidden
    assert api.delete(f"/v1/sessions/{b1['session_id']}", **bearer(a1["access_token"])).status_code == 404
    assert api.delete(f"/v1/sessions/{a2['session_id']}", **bearer(a1["access_token"])).status_code == 204
    assert api.get("/v1/users/me", **bearer(a2["access_token"])).status_code == 401
    assert api.get("/v1/users/me", **bearer(a1["access_token"])).status_code == 200
    assert api.get("/v1/users/me", **bearer(b1["access_token"])).status_code == 200


def test_logout_ends_session_and_refresh(api, user, signing_key):
    pair = login(api, user.username)
    assert api.post("/v1/auth/logout", **bearer(pair["access_token"])).status_code == 204
    r = api.get("/v1/users/me", **bearer(pair["access_token"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
    r = api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    assert Session.objects.get(session_id=pair["session_id"]).revoked
    assert AuditEvent.objects.filter(action="logout", subject_user_id=user.pk).count() == 1


def test_force_logout_by_user_and_by_session(api, signing_key):
    from tests.conftest import grant

    staff = UserFactory(user_type=User.UserType.STAFF)
    grant(staff, "platform_admin")
    victim, other = UserFactory(), UserFactory()
    s_pair = login(api, staff.username)
    v1, v2 = login(api, victim.username), login(api, victim.username)
    o1 = login(api, other.username)

    # a customer may not kick anyone
    r = api.post("/v1/auth/force-logout", {"user_id": other.pk}, format="json", **bearer(v1["access_token"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"

    r = api.post("/v1/auth/force-logout", {"user_id": victim.pk}, format="json", **bearer(s_pair["access_token"]))
    assert r.status_code == 200 and r.json() == {"revoked_sessions": 2}
    victim.refresh_from_db()
    assert victim.token_version == 1
    for pair in (v1, v2):
        assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401
        assert api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
                        format="json").status_code == 401
    assert api.get("/v1/users/me", **bearer(o1["access_token"])).status_code == 200
    # a fresh login after the kick works again
    v3 = login(api, victim.username)
    assert api.get("/v1/users/me", **bearer(v3["access_token"])).status_code == 200

    r = api.post("/v1/auth/force-logout", {"session_id": o1["session_id"]}, format="json",
                 **bearer(s_pair["access_token"]))
    assert r.status_code == 200 and r.json() == {"revoked_sessions": 1}
    assert api.get("/v1/users/me", **bearer(o1["access_token"])).status_code == 401

    r = api.post("/v1/auth/force-logout", {"user_id": 10**9}, format="json", **bearer(s_pair["access_token"]))
    assert r.status_code == 404
    r = api.post("/v1/auth/force-logout", {"user_id": 1, "session_id": "x"}, format="json",
                 **bearer(s_pair["access_token"]))
    assert r.status_code == 400
    assert AuditEvent.objects.filter(action="user.forced_logout").count() == 2


def test_unauthenticated_requests(api, signing_key):
    r = api.get("/v1/users/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    assert r["WWW-Authenticate"].startswith("Bearer")
    r = api.get("/v1/users/me", HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
