"""Access tokens, the bearer authentication and the revocation state: behaviour the mutation
run (scripts/mutation.py) found no test for."""
from __future__ import annotations

import logging

import jwt
import pytest
from django.test import RequestFactory

from keys.keyring import keyring
from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db(transaction=True)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _sign(claims: dict) -> str:
    key = keyring().signing_key()
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})


@pytest.fixture
def good_claims(api, user, signing_key) -> dict:
    return _claims(login(api, user.username)["access_token"])


# ---- sessions_app/authentication.py -------------------------------------------------------------
def test_the_principal_carries_the_tokens_claims(good_claims):
    from sessions_app.authentication import principal_from_bearer

    token = _sign({**good_claims, "tid": 7, "roles": ["tenant_admin", "viewer"], "amr": ["pwd", "otp"]})
    request = RequestFactory().get("/v1/users/me", **bearer(token))
    principal = principal_from_bearer(request)
    assert principal.id == principal.pk == int(good_claims["sub"])
    assert principal.tenant_id == 7 and principal.session_id == good_claims["sid"]
    assert principal.roles == ["tenant_admin", "viewer"] and principal.amr == ["pwd", "otp"]
    assert principal.is_authenticated is True and principal.is_service is False
    assert request.custos_user_id == int(good_claims["sub"])
    assert "claims" not in repr(principal)  # a logged principal does not spill the token's payload


def test_the_principal_without_optional_claims(good_claims):
    from sessions_app.authentication import principal_from_bearer

    claims = {k: v for k, v in good_claims.items() if k not in ("tid", "roles", "amr", "sid")}
    principal = principal_from_bearer(RequestFactory().get("/", **bearer(_sign(claims))))
    assert (principal.tenant_id, principal.session_id, principal.roles, principal.amr) == (None, None, [], [])


def test_the_request_log_names_the_bearer(api, user, signing_key, caplog):
    token = login(api, user.username)["access_token"]
    with caplog.at_level(logging.INFO, logger="custos.request"):
        assert api.get("/v1/users/me", **bearer(token)).status_code == 200
    lines = [r for r in caplog.records if r.name == "custos.request" and r.path == "/v1/users/me"]
    assert lines and lines[-1].user_id == user.pk


# ---- sessions_app/tokens.py: every claim's range, at its edges, with the claim named -------------
MAX_ID, MAX_VERSION = 2**63 - 1, 2**31 - 1


def _problem(**change) -> str | None:
    import time

    from sessions_app.tokens import claims_problem

    now = int(time.time())
    return claims_problem({"sub": "1", "ver": 0, "iat": now, "exp": now + 900, **change})


@pytest.mark.parametrize(("change", "expected"), [
    ({}, None),
    ({"sub": str(MAX_ID)}, None), ({"sub": str(MAX_ID + 1)}, "sub"), ({"sub": 1}, "sub"), ({"sub": "01"}, "sub"),
    ({"sub": None}, "sub"),
    ({"ver": MAX_VERSION}, None), ({"ver": MAX_VERSION + 1}, "ver"), ({"ver": -1}, "ver"), ({"ver": True}, "ver"),
    ({"tid": 1}, None), ({"tid": MAX_ID}, None), ({"tid": MAX_ID + 1}, "tid"), ({"tid": 0}, "tid"),
    ({"tid": True}, "tid"), ({"tid": "1"}, "tid"),
    ({"sid": "a" * 36}, None), ({"sid": "a" * 37}, "sid"), ({"sid": ""}, "sid"), ({"sid": 5}, "sid"),
    ({"sid": "a b"}, "sid"),
    ({"roles": ["r"]}, None), ({"roles": ["r" * 64]}, None), ({"roles": ["r" * 65]}, "roles"),
    ({"roles": [""]}, "roles"),
    ({"roles": "admin"}, "roles"), ({"amr": ["a" * 64]}, None), ({"amr": ["a" * 65]}, "amr"), ({"amr": [1]}, "amr"),
    ({"scope": "s" * 1024}, None), ({"scope": "s" * 1025}, "scope"), ({"scope": 5}, "scope"), ({"scope": ""}, None),
], ids=repr)
def test_claims_problem_names_the_claim_at_each_edge(change, expected):
    assert _problem(**change) == expected


def test_claims_problem_lifetime_and_auth_time_edges():
    from sessions_app.conf import conf

    c = conf()
    longest = c.access_ttl + c.leeway
    assert _problem(iat=1_000_000, exp=1_000_000 + longest) is None
    assert _problem(iat=1_000_000, exp=1_000_000 + longest + 1) == "lifetime"
    assert _problem(iat=1_000_000, exp=1_000_100, auth_time=1_000_000 + c.leeway) is None
    assert _problem(iat=1_000_000, exp=1_000_100, auth_time=1_000_000 + c.leeway + 1) == "auth_time"
    assert _problem(iat=1_000_000, exp=1_000_100, auth_time=0) is None
    assert _problem(iat=1_000_000, exp=1_000_100, auth_time=-1) == "auth_time"
    assert _problem(iat=1_000_000, exp=1_000_100, auth_time="yesterday") == "auth_time"


def test_a_token_with_a_bad_claim_is_refused_with_that_claims_name(good_claims):
    from rest_framework_simplejwt.exceptions import TokenError

    from sessions_app.tokens import CustosAccessToken

    assert CustosAccessToken(_sign(good_claims)).payload["sub"] == good_claims["sub"]
    with pytest.raises(TokenError, match="bad claim: tid"):
        CustosAccessToken(_sign({**good_claims, "tid": 0}))


# ---- sessions_app/revstate.py ---------------------------------------------------------------
class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    from sessions_app import revstate

    fake = _Clock()
    monkeypatch.setattr(revstate, "time", fake)
    return fake


def _horizon() -> float:
    from sessions_app.conf import conf

    return conf().access_ttl + conf().leeway + 10


def _feed(**row):
    from django.utils import timezone

    from sessions_app.models import Revocation

    row.setdefault("created_at", timezone.now())
    return Revocation.objects.create(**row)


def test_a_user_kick_keeps_the_highest_version_and_its_own_horizon(clock):
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.apply_user(1, 5)
    assert s.min_version[1] == (5, 1000.0 + _horizon())
    s.apply_user(1, 3)  # an older kick seen later does not lower the bar
    assert s.min_version[1] == (5, 1000.0 + _horizon())
    clock.now = 1100.0
    s.apply_user(1, 5)  # the same kick seen again starts its horizon again
    assert s.min_version[1] == (5, 1100.0 + _horizon())
    s.apply_session("sid-1")
    assert s.revoked_sessions == {"sid-1": 1100.0 + _horizon()}


def test_is_revoked_compares_the_version_and_the_session(clock):
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.last_poll = clock.now  # nothing to read: no poll during the questions
    s.apply_user(1, 2)
    s.apply_session("gone")
    assert s.is_revoked(user_id=1, version=1, sid=None) is True
    assert s.is_revoked(user_id=1, version=2, sid=None) is False  # the current version passes
    assert s.is_revoked(user_id=1, version=3, sid="live") is False
    assert s.is_revoked(user_id=2, version=0, sid="gone") is True
    assert s.is_revoked(user_id=2, version=0, sid="live") is False
    assert s.is_revoked(user_id=2, version=0, sid=None) is False


def test_entries_expire_after_their_horizon_not_before(clock):
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.apply_user(1, 2)
    s.apply_session("gone")
    s._expire(1000.0 + _horizon())  # at the horizon itself: still held
    assert 1 in s.min_version and "gone" in s.revoked_sessions
    s._expire(1000.0 + _horizon() + 0.5)
    assert s.min_version == {} and s.revoked_sessions == {}


def test_poll_reads_the_feed_at_most_once_per_interval(db, clock):
    from sessions_app.conf import conf
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.poll()
    assert s.last_poll == 1000.0 and s.last_seen_at is not None
    _feed(kind="user", user_id=1, min_token_version=4)
    clock.now = 1000.0 + conf().revocation_poll / 2
    s.poll()
    assert s.min_version == {}  # too soon: the feed is not read
    s.poll(force=True)
    assert s.min_version[1][0] == 4
    _feed(kind="session", user_id=1, session_id="sid-9")
    clock.now += conf().revocation_poll  # exactly one interval later: read again
    s.poll()
    assert "sid-9" in s.revoked_sessions


def test_poll_applies_each_kind_and_skips_rows_without_a_version(db, clock):
    from sessions_app.revstate import RevocationState

    _feed(kind="user", user_id=1, min_token_version=None)
    _feed(kind="user", user_id=2, min_token_version=3, session_id="not-a-session")
    _feed(kind="session", user_id=3, session_id="sid-3")
    _feed(kind="session", user_id=4, session_id="")
    _feed(kind="session", user_id=5, session_id="sid-5", min_token_version=9)  # a session's row, whatever it holds
    s = RevocationState()
    s.poll(force=True)
    assert {u: v for u, (v, _) in s.min_version.items()} == {2: 3}
    assert set(s.revoked_sessions) == {"sid-3", "sid-5"}


def test_poll_reads_back_one_horizon_then_overlaps_its_last_read(db, clock):
    from datetime import timedelta

    from django.utils import timezone

    from sessions_app.revstate import RevocationState

    now = timezone.now()
    _feed(kind="session", user_id=1, session_id="too-old", created_at=now - timedelta(seconds=_horizon() + 60))
    _feed(kind="session", user_id=1, session_id="recent", created_at=now - timedelta(seconds=_horizon() - 60))
    s = RevocationState()
    s.poll(force=True)
    assert set(s.revoked_sessions) == {"recent"}
    # a row whose commit was seen late, stamped a few seconds before the last read: inside the overlap
    _feed(kind="session", user_id=1, session_id="late", created_at=s.last_seen_at - timedelta(seconds=5))
    _feed(kind="session", user_id=1, session_id="older", created_at=s.last_seen_at - timedelta(seconds=60))
    s.poll(force=True)
    assert set(s.revoked_sessions) == {"recent", "late"}


def test_each_question_reads_the_feed_when_it_is_due(db, clock):
    from sessions_app.revstate import RevocationState

    _feed(kind="session", user_id=1, session_id="ended-elsewhere")
    assert RevocationState().is_revoked(user_id=1, version=0, sid="ended-elsewhere") is True


def test_poll_expires_what_it_holds(db, clock):
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.apply_user(1, 2)
    clock.now += _horizon() + 1
    s.poll(force=True)
    assert s.min_version == {}


def test_a_poll_already_running_is_not_waited_for(db, clock):
    import threading

    from sessions_app.revstate import RevocationState

    _feed(kind="session", user_id=1, session_id="sid-1")
    s = RevocationState()
    returned = threading.Event()
    with s._lock:  # another thread of this process is polling
        worker = threading.Thread(target=lambda: (s.poll(force=True), returned.set()), daemon=True)
        worker.start()
        assert returned.wait(10), "poll waited for the other poller"
    assert s.revoked_sessions == {}  # it left the reading to the other poller
    s.poll(force=True)
    assert "sid-1" in s.revoked_sessions  # and the lock was released for the next one


def test_reset_state_starts_empty():
    from sessions_app import revstate

    revstate.state().apply_session("x")
    revstate.reset_state()
    assert revstate.state().revoked_sessions == {} and revstate.state() is revstate.state()


def test_the_authentication_answers_with_a_bearer_challenge():
    """DRF turns a 401 into a 403 when the first authentication class names no challenge."""
    from sessions_app.authentication import AccessTokenAuthentication

    assert AccessTokenAuthentication().authenticate_header(None) == 'Bearer realm="custos"'


# ---- role changes: the cutoff rule's numbers (sessions_app/revstate.py, tokens.py) -------------
def test_a_role_changes_cutoff_is_one_second_after_it():
    from datetime import UTC, datetime, timedelta

    from sessions_app.revstate import roles_cutoff

    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=123456)
    assert roles_cutoff(at) == 1767225601.123456


def test_roles_at_may_run_ahead_of_iat_by_the_gap_and_the_leeway_only():
    from sessions_app.conf import conf

    edge = 1_000_000 + 1 + 1.0 + conf().leeway
    assert _problem(iat=1_000_000, exp=1_000_100, roles_at=edge) is None
    assert _problem(iat=1_000_000, exp=1_000_100, roles_at=edge + 0.5) == "roles_at"
    assert _problem(iat=1_000_000, exp=1_000_100, roles_at=0) is None
    assert _problem(iat=1_000_000, exp=1_000_100, roles_at=-1) == "roles_at"
    assert _problem(iat=1_000_000, exp=1_000_100, roles_at="now") == "roles_at"


def test_a_sign_in_reads_the_feed_first_when_its_process_has_not_for_ten_seconds(db):
    from datetime import timedelta

    from django.utils import timezone

    from sessions_app.revstate import RevocationState

    s = RevocationState()
    recent = timezone.now() - timedelta(seconds=5)
    s.last_seen_at = recent
    assert s.roles_knowledge(1, None) == (recent.timestamp(), None)  # fresh enough: no read
    stale = timezone.now() - timedelta(seconds=10.2)
    s.last_seen_at = stale
    as_of, _ = s.roles_knowledge(1, None)
    assert as_of > stale.timestamp() + 10  # read the feed now


def test_role_cutoffs_keep_the_latest_and_live_a_lifetime_past_it(clock):
    from sessions_app.revstate import RevocationState

    s = RevocationState()
    s.apply_roles(1, 5.0)
    s.apply_roles(1, 3.0)  # an older change seen later does not lower the bar
    assert s.roles_users[1] == (5.0, 1000.0 + _horizon() + 1.0)
    s.apply_tenant_roles(None, 7.0)
    assert s.roles_tenants[None] == (7.0, 1000.0 + _horizon() + 1.0)
    assert s.roles_cutoff_of(1, None) == 7.0 and s.roles_cutoff_of(1, 9) == 5.0 and s.roles_cutoff_of(2, 9) is None
    assert s.roles_stale(user_id=1, tenant_id=9, roles_at=4.9) is True
    assert s.roles_stale(user_id=1, tenant_id=9, roles_at=5.0) is False
    assert s.roles_stale(user_id=2, tenant_id=None, roles_at=6.9) is True
