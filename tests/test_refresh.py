"""Refresh rotation, reuse detection, the grace window and the race."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from sessions_app.models import RefreshToken, Session
from sessions_app.services import token_hash
from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(api, token: str):
    return api.post("/v1/auth/refresh", {"refresh_token": token}, format="json")


def test_rotation_stores_only_hashes_and_links_predecessor(api, user, signing_key):
    p0 = login(api, user.username)
    r = refresh(api, p0["refresh_token"])
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    p1 = r.json()
    assert p1["session_id"] == p0["session_id"] and p1["refresh_token"] != p0["refresh_token"]
    assert len(p1["refresh_token"]) >= 43  # 256 bits, base64url
    old = RefreshToken.objects.get(token_hash=token_hash(p0["refresh_token"]))
    new = RefreshToken.objects.get(token_hash=token_hash(p1["refresh_token"]))
    assert old.is_used and old.used_at is not None and new.parent_id == old.pk and not new.is_used
    assert Session.objects.get(session_id=p0["session_id"]).refresh_token_id == new.pk
    # nothing stores a token in the clear
    for raw in (p0["refresh_token"], p1["refresh_token"]):
        assert not RefreshToken.objects.filter(token_hash=raw).exists()
    assert api.get("/v1/users/me", **bearer(p1["access_token"])).status_code == 200


def test_reuse_outside_grace_revokes_that_session_only(api, user, signing_key, settings):
    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "REFRESH_GRACE": 0}
    victim = login(api, user.username)
    bystander = login(api, user.username)
    p1 = refresh(api, victim["refresh_token"]).json()
    r = refresh(api, victim["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused"
    # the whole lineage is dead: successor refresh and access tokens
    assert refresh(api, p1["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"
    assert api.get("/v1/users/me", **bearer(p1["access_token"])).status_code == 401
    assert Session.objects.get(session_id=victim["session_id"]).revoked
    assert not RefreshToken.objects.filter(session__session_id=victim["session_id"], revoked_at__isnull=True).exists()
    # the user's other session is untouched
    assert api.get("/v1/users/me", **bearer(bystander["access_token"])).status_code == 200
    assert refresh(api, bystander["refresh_token"]).status_code == 200
    ev = AuditEvent.objects.get(action="refresh.reused")
    assert ev.subject_user_id == user.pk and ev.metadata["session_id"] == victim["session_id"]


def test_grace_window_returns_the_same_successor(api, user, signing_key):
    p0 = login(api, user.username)
    first = refresh(api, p0["refresh_token"]).json()
    again = refresh(api, p0["refresh_token"])  # the response was lost; the client retries
    assert again.status_code == 200
    again = again.json()
    assert again["refresh_token"] == first["refresh_token"]
    assert again["access_token"] != first["access_token"]
    assert RefreshToken.objects.filter(session__session_id=p0["session_id"]).count() == 2
    # once the successor is used, the old token is a replay
    assert refresh(api, first["refresh_token"]).status_code == 200
    r = refresh(api, p0["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused"


def test_grace_window_expires(api, user, signing_key):
    p0 = login(api, user.username)
    assert refresh(api, p0["refresh_token"]).status_code == 200
    RefreshToken.objects.filter(token_hash=token_hash(p0["refresh_token"])).update(
        used_at=timezone.now() - timedelta(seconds=11))
    assert refresh(api, p0["refresh_token"]).json()["error"]["code"] == "refresh_token_reused"


def test_invalid_expired_and_garbage_tokens(api, user, signing_key):
    p0 = login(api, user.username)
    for bad in ("", "x" * 600, "not-a-token", p0["access_token"]):
        r = refresh(api, bad)
        assert r.status_code in (400, 401), bad
    r = api.post("/v1/auth/refresh", {"refresh_token": 12345}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    RefreshToken.objects.filter(token_hash=token_hash(p0["refresh_token"])).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert refresh(api, p0["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"


def _race(token: str, n: int) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(n)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = Client()
        try:
            barrier.wait()
            r = client.post("/v1/auth/refresh", {"refresh_token": token}, content_type="application/json")
            with lock:
                results.append((r.status_code, r.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_ten_concurrent_refreshes_never_fork(api, user, signing_key):
    p0 = login(api, user.username)
    results = _race(p0["refresh_token"], 10)
    assert len(results) == 10
    assert all(status == 200 for status, _ in results), results
    successors = {body["refresh_token"] for _, body in results}
    assert len(successors) == 1
    # exactly one successor row: one lineage, and it lives on
    assert RefreshToken.objects.filter(session__session_id=p0["session_id"]).count() == 2
    assert refresh(api, successors.pop()).status_code == 200
    assert not Session.objects.get(session_id=p0["session_id"]).revoked


def test_concurrent_refreshes_with_strict_mode_have_one_winner(api, user, signing_key, settings):
    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "REFRESH_GRACE": 0}
    p0 = login(api, user.username)
    results = _race(p0["refresh_token"], 6)
    assert len(results) == 6  # no thread died (a deadlock would surface here or as a 500)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(200) == 1, results
    codes = [b["error"]["code"] for s, b in results if s != 200]
    # the first loser detects the replay and revokes the session; later ones find it revoked
    assert codes.count("refresh_token_reused") >= 1
    assert set(codes) <= {"refresh_token_reused", "refresh_token_invalid"}
    assert RefreshToken.objects.filter(session__session_id=p0["session_id"]).count() == 2
    assert Session.objects.get(session_id=p0["session_id"]).revoked


def test_refresh_rereads_roles(api, user, signing_key):
    import jwt

    from tests.conftest import grant

    p0 = login(api, user.username)
    assert jwt.decode(p0["access_token"], options={"verify_signature": False})["roles"] == []
    grant(user, "auditor")
    p1 = refresh(api, p0["refresh_token"]).json()
    assert jwt.decode(p1["access_token"], options={"verify_signature": False})["roles"] == ["auditor"]


# ---- whom a refresh is issued to: accounts' read, not a join ------------------------------------
def test_refresh_answers_with_the_users_current_fields(api, signing_key):
    """The user comes from accounts at every refresh, not from the sign-in: a rename by staff
    shows in the next refresh, and `ver` is the account's current token_version."""
    import jwt

    from accounts.models import Tenant, User
    from accounts.services import admin_user_update
    from audit.services import Actor
    from tests.factories import UserFactory

    tenant = Tenant.objects.create(name="acme-refresh")
    user = UserFactory(username="before", tenant=tenant)
    User.objects.filter(pk=user.pk).update(token_version=3)  # kicked three times before this session
    p0 = login(api, "before")
    admin_user_update(user_id=user.pk, data={"username": "after", "user_type": "partner"}, actor=Actor.system("t"))
    r = refresh(api, p0["refresh_token"])
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["user"] == {"id": user.pk, "username": "after", "tenant_id": tenant.pk, "user_type": "partner",
                            "status": "active"}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["ver"] == 3 and claims["sub"] == str(user.pk) and claims["tid"] == tenant.pk
    assert api.get("/v1/users/me", **bearer(body["access_token"])).status_code == 200


@pytest.mark.parametrize("status", ["disabled", "locked", "deleted", "merged"])
def test_an_account_that_is_not_active_cannot_refresh_even_with_a_live_session(api, user, signing_key, status):
    """Every lifecycle move ends the sessions (the next test), so a live session implies an
    active account; accounts' read checks the status all the same. Here the status is set
    behind the lifecycle's back: the refresh is refused and its token is not spent."""
    from accounts.models import User

    p0 = login(api, user.username)
    User.objects.filter(pk=user.pk).update(status=status)
    r = refresh(api, p0["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    token = RefreshToken.objects.get(token_hash=token_hash(p0["refresh_token"]))
    assert not token.is_used and token.used_at is None  # the spending rolled back
    assert RefreshToken.objects.filter(session__session_id=p0["session_id"]).count() == 1
    User.objects.filter(pk=user.pk).update(status="active")
    assert refresh(api, p0["refresh_token"]).status_code == 200


def test_every_move_away_from_active_ends_the_sessions(api, signing_key):
    """What the refresh relies on: no account leaves the active state, and no token_version
    changes, while one of its sessions lives."""
    from accounts.models import Tenant, User
    from accounts.services import TRANSITIONS, tenant_disable, user_token_version_bump, user_transition
    from audit.services import Actor
    from tests.factories import UserFactory

    for action, (_, target, _, kicks) in TRANSITIONS.items():
        assert kicks or target == User.Status.ACTIVE, action
    tenant = Tenant.objects.create(name="acme-moves")
    user = UserFactory(tenant=tenant)
    actor = Actor.system("t")
    for move in ("lock", "freeze", "bump", "tenant_disable", "delete"):  # delete last: it scrubs the password
        User.objects.filter(pk=user.pk).update(status=User.Status.ACTIVE)
        Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.ACTIVE)
        pair = login(api, user.username)
        if move == "bump":
            user_token_version_bump(user_id=user.pk, actor=actor, reason="t")
        elif move == "tenant_disable":
            tenant_disable(tenant_id=tenant.pk, actor=actor)
        else:
            user_transition(user_id=user.pk, action=move, actor=actor)
        assert Session.objects.get(session_id=pair["session_id"]).revoked, move
        assert refresh(api, pair["refresh_token"]).status_code == 401, move
