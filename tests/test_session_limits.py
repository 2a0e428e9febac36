"""Session limits (issue 14, "Sessions and tokens"): an absolute lifetime whatever the
refreshes, an idle limit, the refresh token's expiry within them, ending all of one's
sessions, and a cap on live sessions per user.

Time passes by moving a session's moments back in the database (its sign-in, last use and
creation, its tokens' creation and expiry) rather than by sleeping."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEvent
from sessions_app.models import RefreshToken, Revocation, Session
from sessions_app.services import token_hash
from tests.conftest import bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 24 * 3600


def refresh(api, token: str):
    return api.post("/v1/auth/refresh", {"refresh_token": token}, format="json")


def time_passes(session_id: str, seconds: int) -> None:
    """`seconds` pass for one session: every moment it and its tokens hold moves back."""
    d = timedelta(seconds=seconds)
    Session.objects.filter(session_id=session_id).update(
        auth_time=F("auth_time") - d, last_seen_at=F("last_seen_at") - d, created_at=F("created_at") - d)
    RefreshToken.objects.filter(session__session_id=session_id).update(
        created_at=F("created_at") - d, expires_at=F("expires_at") - d)


def ended(session_id: str, reason: str) -> None:
    """The session is over everywhere: revoked with its reason, its tokens too, on the feed,
    audited once."""
    s = Session.objects.get(session_id=session_id)
    assert s.revoked and s.revoked_at is not None and s.revoke_reason == reason
    assert not RefreshToken.objects.filter(session=s, revoked_at__isnull=True).exists()
    assert Revocation.objects.filter(kind=Revocation.KIND_SESSION, session_id=session_id).count() == 1
    events = AuditEvent.objects.filter(action="session.revoked", metadata__session_id=session_id)
    assert [(e.subject_user_id, e.metadata["reason"]) for e in events] == [(s.user_id, reason)]


def live_ids(api, access_token: str) -> set[str]:
    r = api.get("/v1/sessions", **bearer(access_token))
    assert r.status_code == 200, r.content
    return {row["session_id"] for row in r.json()["results"]}


def limits(settings, **values: int) -> None:
    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, **values}


# ---- absolute age --------------------------------------------------------------------------------
def test_a_session_refreshed_regularly_still_ends_at_its_max_age(api, user, signing_key, settings):
    limits(settings, SESSION_MAX_AGE=30 * DAY, SESSION_IDLE_TIMEOUT=14 * DAY, REFRESH_TTL=30 * DAY)
    pair = login(api, user.username)
    sid = pair["session_id"]
    for _ in range(3):  # 8 days between refreshes: never idle
        time_passes(sid, 8 * DAY)
        r = refresh(api, pair["refresh_token"])
        assert r.status_code == 200, r.content
        pair = r.json()
    # day 24: the new token lives to the session's end (day 30), not REFRESH_TTL or the idle limit
    assert 6 * DAY - 60 <= pair["refresh_expires_in"] <= 6 * DAY
    token = RefreshToken.objects.get(token_hash=token_hash(pair["refresh_token"]))
    assert token.expires_at <= Session.objects.get(session_id=sid).auth_time + timedelta(days=30)

    time_passes(sid, 8 * DAY)  # day 32
    r = refresh(api, pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    ended(sid, "max_age")
    assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401  # the feed reached us
    assert refresh(api, pair["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"


def test_max_age_holds_for_a_token_issued_under_a_longer_one(api, user, signing_key, settings):
    """Lowering the limit ends sessions whose tokens were issued to live longer."""
    pair = login(api, user.username)
    limits(settings, SESSION_MAX_AGE=3600)
    time_passes(pair["session_id"], 3601)
    Session.objects.filter(session_id=pair["session_id"]).update(last_seen_at=timezone.now())
    r = refresh(api, pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    ended(pair["session_id"], "max_age")


def test_refresh_expires_in_never_passes_the_sessions_max_age(api, user, signing_key, settings):
    limits(settings, SESSION_MAX_AGE=3600, SESSION_IDLE_TIMEOUT=0, REFRESH_TTL=30 * DAY)
    pair = login(api, user.username)
    assert 3590 <= pair["refresh_expires_in"] <= 3600
    session = Session.objects.get(session_id=pair["session_id"])
    first = RefreshToken.objects.get(token_hash=token_hash(pair["refresh_token"]))
    assert first.expires_at <= session.auth_time + timedelta(seconds=3600)

    time_passes(pair["session_id"], 1800)
    pair = refresh(api, pair["refresh_token"]).json()
    assert 1790 <= pair["refresh_expires_in"] <= 1800
    # ... and the idle limit, when it is the nearer one
    limits(settings, SESSION_MAX_AGE=30 * DAY, SESSION_IDLE_TIMEOUT=600, REFRESH_TTL=30 * DAY)
    assert 590 <= login(api, user.username)["refresh_expires_in"] <= 600


# ---- idleness ------------------------------------------------------------------------------------
def test_an_idle_session_ends_at_its_next_refresh(api, user, signing_key, settings):
    limits(settings, SESSION_MAX_AGE=60 * DAY, SESSION_IDLE_TIMEOUT=14 * DAY, REFRESH_TTL=30 * DAY)
    pair = login(api, user.username)
    assert 14 * DAY - 60 <= pair["refresh_expires_in"] <= 14 * DAY
    time_passes(pair["session_id"], 13 * DAY)
    pair = refresh(api, pair["refresh_token"]).json()  # day 13: seen again
    time_passes(pair["session_id"], 13 * DAY)
    pair = refresh(api, pair["refresh_token"]).json()  # day 26: within 14 days of the last refresh
    assert "access_token" in pair

    time_passes(pair["session_id"], 14 * DAY + 1)
    r = refresh(api, pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    ended(pair["session_id"], "idle")


def test_an_idle_session_ends_even_when_its_token_would_live_on(api, user, signing_key, settings):
    """The limit is the session's: a token issued before the limit was lowered is refused."""
    pair = login(api, user.username)
    limits(settings, SESSION_IDLE_TIMEOUT=600)
    Session.objects.filter(session_id=pair["session_id"]).update(last_seen_at=timezone.now() - timedelta(seconds=601))
    r = refresh(api, pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    ended(pair["session_id"], "idle")


def test_limits_set_to_zero_are_off_and_a_lapsed_token_is_only_refused(api, user, signing_key, settings):
    limits(settings, SESSION_MAX_AGE=30 * DAY, SESSION_IDLE_TIMEOUT=14 * DAY, REFRESH_TTL=30 * DAY)
    assert login(api, user.username)["refresh_expires_in"] <= 14 * DAY
    limits(settings, SESSION_MAX_AGE=0, SESSION_IDLE_TIMEOUT=0, REFRESH_TTL=30 * DAY)
    pair = login(api, user.username)
    assert pair["refresh_expires_in"] >= 30 * DAY - 60
    Session.objects.filter(session_id=pair["session_id"]).update(
        auth_time=timezone.now() - timedelta(days=400), last_seen_at=timezone.now() - timedelta(days=400))
    pair = refresh(api, pair["refresh_token"]).json()
    assert not Session.objects.get(session_id=pair["session_id"]).revoked
    # a token that lapsed in a session within its limits is refused as ever; the session lives on
    RefreshToken.objects.filter(session__session_id=pair["session_id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    r = refresh(api, pair["refresh_token"])
    assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_invalid"
    assert not Session.objects.get(session_id=pair["session_id"]).revoked
    assert not RefreshToken.objects.get(token_hash=token_hash(pair["refresh_token"])).is_used


# ---- what is listed ------------------------------------------------------------------------------
def test_sessions_past_their_limits_are_not_listed(api, user, signing_key, settings):
    limits(settings, SESSION_MAX_AGE=30 * DAY, SESSION_IDLE_TIMEOUT=14 * DAY)
    current, old, idle = (login(api, user.username) for _ in range(3))
    assert live_ids(api, current["access_token"]) == {current["session_id"], old["session_id"], idle["session_id"]}
    Session.objects.filter(session_id=old["session_id"]).update(
        auth_time=timezone.now() - timedelta(days=30, seconds=1), last_seen_at=timezone.now())
    Session.objects.filter(session_id=idle["session_id"]).update(
        last_seen_at=timezone.now() - timedelta(days=14, seconds=1))
    assert live_ids(api, current["access_token"]) == {current["session_id"]}


def test_the_hourly_sweep_ends_abandoned_sessions(api, user, signing_key, settings):
    from sessions_app.tasks import purge_expired

    limits(settings, SESSION_MAX_AGE=30 * DAY, SESSION_IDLE_TIMEOUT=14 * DAY)
    keep, old, idle = (login(api, user.username) for _ in range(3))
    other = login(api, UserFactory().username)
    time_passes(old["session_id"], 31 * DAY)
    time_passes(idle["session_id"], 15 * DAY)
    purge_expired()
    ended(old["session_id"], "max_age")
    ended(idle["session_id"], "idle")
    for pair in (keep, other):
        assert not Session.objects.get(session_id=pair["session_id"]).revoked
        assert refresh(api, pair["refresh_token"]).status_code == 200
    purge_expired()  # nothing more to end, nothing recorded twice
    assert AuditEvent.objects.filter(action="session.revoked").count() == 2


# ---- DELETE /v1/sessions -------------------------------------------------------------------------
def test_delete_sessions_ends_all_but_the_current_one(api, signing_key):
    alice, bob = UserFactory(), UserFactory()
    a1, a2, a3 = (login(api, alice.username) for _ in range(3))
    b1 = login(api, bob.username)
    r = api.delete("/v1/sessions", **bearer(a1["access_token"]))
    assert r.status_code == 204, r.content
    for pair in (a2, a3):
        ended(pair["session_id"], "user_revoked_all")
        assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401
        assert refresh(api, pair["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"
    assert {e.actor_id for e in AuditEvent.objects.filter(action="session.revoked")} == {str(alice.pk)}
    # the current session and everyone else's live on
    assert live_ids(api, a1["access_token"]) == {a1["session_id"]}
    assert live_ids(api, b1["access_token"]) == {b1["session_id"]}
    assert refresh(api, b1["refresh_token"]).status_code == 200
    a1 = refresh(api, a1["refresh_token"]).json()
    # nothing left to end but the current one: nothing happens
    assert api.delete("/v1/sessions", **bearer(a1["access_token"])).status_code == 204
    assert AuditEvent.objects.filter(action="session.revoked").count() == 2


def test_delete_sessions_all_ends_the_current_one_too(api, signing_key):
    alice, bob = UserFactory(), UserFactory()
    a1, a2 = login(api, alice.username), login(api, alice.username)
    b1 = login(api, bob.username)
    assert api.delete("/v1/sessions?all=1").status_code == 401
    r = api.delete("/v1/sessions?all=yes", **bearer(a1["access_token"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    assert not Session.objects.filter(user_id=alice.pk, revoked=True).exists()
    r = api.delete("/v1/sessions?all=1", **bearer(a1["access_token"]))
    assert r.status_code == 204, r.content
    for pair in (a1, a2):
        ended(pair["session_id"], "user_revoked_all")
        assert refresh(api, pair["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"
    assert api.get("/v1/sessions", **bearer(a1["access_token"])).status_code == 401
    assert api.get("/v1/users/me", **bearer(b1["access_token"])).status_code == 200
    assert not Session.objects.get(session_id=b1["session_id"]).revoked


# ---- the cap -------------------------------------------------------------------------------------
def test_a_sign_in_past_the_cap_ends_the_oldest_sessions_first(api, user, signing_key, settings):
    limits(settings, MAX_SESSIONS=3)
    first, second, third = (login(api, user.username) for _ in range(3))
    assert not Session.objects.filter(revoked=True).exists()
    fourth = login(api, user.username)
    ended(first["session_id"], "max_sessions")
    assert AuditEvent.objects.get(action="session.revoked").actor_id == str(user.pk)
    assert api.get("/v1/users/me", **bearer(first["access_token"])).status_code == 401
    assert refresh(api, first["refresh_token"]).json()["error"]["code"] == "refresh_token_invalid"
    assert live_ids(api, fourth["access_token"]) == {second["session_id"], third["session_id"], fourth["session_id"]}
    # the oldest by sign-in, whatever was used last
    assert refresh(api, second["refresh_token"]).status_code == 200
    login(api, user.username)
    ended(second["session_id"], "max_sessions")
    assert Session.objects.filter(user_id=user.pk, revoked=False).count() == 3


def test_an_expired_session_takes_no_place_under_the_cap(api, user, signing_key, settings):
    """A session past its idle limit is over before anything marks it so: it does not count
    toward the cap, so a live one is not ended to make room for the new sign-in."""
    from sessions_app.tasks import purge_expired

    limits(settings, MAX_SESSIONS=2, SESSION_IDLE_TIMEOUT=14 * DAY)
    first, second = login(api, user.username), login(api, user.username)
    time_passes(second["session_id"], 15 * DAY)  # the younger one went idle
    third = login(api, user.username)
    assert not Session.objects.get(session_id=first["session_id"]).revoked
    assert live_ids(api, third["access_token"]) == {first["session_id"], third["session_id"]}
    assert refresh(api, second["refresh_token"]).status_code == 401  # over, though not swept yet
    purge_expired()
    ended(second["session_id"], "idle")


def test_the_cap_is_per_user_and_zero_is_none(api, signing_key, settings):
    limits(settings, MAX_SESSIONS=1)
    alice, bob = UserFactory(), UserFactory()
    a1, b1 = login(api, alice.username), login(api, bob.username)
    a2 = login(api, alice.username)
    ended(a1["session_id"], "max_sessions")
    assert not Session.objects.get(session_id=b1["session_id"]).revoked
    assert not Session.objects.get(session_id=a2["session_id"]).revoked
    limits(settings, MAX_SESSIONS=0)
    for _ in range(3):
        login(api, alice.username)
    assert Session.objects.filter(user_id=alice.pk, revoked=False).count() == 4


def test_session_start_takes_the_callers_count(user, signing_key, settings):
    """The sign-in has counted the sessions already (its risk rule): no second read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import Actor
    from sessions_app.services import session_start

    limits(settings, MAX_SESSIONS=2)
    session_start(user=user, amr=["pwd"], actor=Actor.user(user.pk))
    with CaptureQueriesContext(connection) as q:
        session_start(user=user, amr=["pwd"], actor=Actor.user(user.pk), active_sessions=1)
    assert not [x for x in q.captured_queries if "COUNT(" in x["sql"].upper()]
    session_start(user=user, amr=["pwd"], actor=Actor.user(user.pk))  # counts itself: 2, the cap
    assert Session.objects.filter(user_id=user.pk, revoked=False).count() == 2
