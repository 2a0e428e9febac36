"""The access token's shape, and every forged or stale token the authentication refuses."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as dj_settings

from keys.keyring import keyring
from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMS = {"iss", "aud", "sub", "tid", "jti", "iat", "exp", "scope", "roles", "ver", "sid", "amr", "auth_time",
          "roles_at"}


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_access_token_header_and_claims(api, user, signing_key):
    pair = login(api, user.username)
    header = jwt.get_unverified_header(pair["access_token"])
    assert header == {"alg": "ES256", "kid": signing_key.kid, "typ": "at+jwt"}
    claims = _claims(pair["access_token"])
    assert set(claims) == CLAIMS
    assert claims["sub"] == str(user.pk) and claims["ver"] == 0 and claims["sid"] == pair["session_id"]
    assert claims["iss"] == dj_settings.CUSTOS_ISSUER and claims["aud"] == dj_settings.CUSTOS_AUDIENCE
    assert claims["amr"] == ["pwd"] and claims["exp"] - claims["iat"] == 900 and claims["tid"] is None
    assert isinstance(claims["scope"], str)


def _sign_with_our_key(claims: dict, headers: dict | None = None) -> str:
    key = keyring().signing_key()
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt",
                                                                           **(headers or {})})


@pytest.fixture
def good_claims(api, user, signing_key) -> dict:
    return _claims(login(api, user.username)["access_token"])


def _status(api, token: str) -> tuple[int, str]:
    r = api.get("/v1/users/me", **bearer(token))
    return r.status_code, (r.json().get("error") or {}).get("code", "")


def test_our_own_resigned_claims_pass(api, good_claims):
    # control for the cases below: the same claims signed properly are accepted
    assert _status(api, _sign_with_our_key(good_claims)) == (200, "")


def test_alg_none_is_refused(api, good_claims):
    kid = keyring().signing_key().kid
    token = f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{_b64(good_claims)}."
    assert _status(api, token) == (401, "token_invalid")


def test_hs256_signed_with_the_public_key_is_refused(api, good_claims):
    key = keyring().signing_key()
    pem = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64({"alg": "HS256", "kid": key.kid, "typ": "at+jwt"})
    payload = _b64(good_claims)
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    token = f"{header}.{payload}.{sig.rstrip(b'=').decode()}"
    assert _status(api, token) == (401, "token_invalid")


def test_unknown_kid_and_foreign_key_are_refused(api, good_claims):
    foreign = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(good_claims, foreign, algorithm="ES256", headers={"kid": "nope", "typ": "at+jwt"})
    assert _status(api, token) == (401, "token_invalid")
    # a foreign key claiming our kid fails the signature check
    kid = keyring().signing_key().kid
    token = jwt.encode(good_claims, foreign, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
    assert _status(api, token) == (401, "token_invalid")


@pytest.mark.parametrize("change", [
    {"aud": "someone-else"}, {"iss": "https://evil.example"}, {"ver": "0"}, {"sub": "abc"},
    # a list must contain our audience (RFC 7519 4.1.3); one that does not is someone else's token
    {"aud": ["someone-else"]}, {"aud": []}, {"aud": ["someone-else", "fly-other"]},
])
def test_wrong_claims_are_refused(api, good_claims, change):
    assert _status(api, _sign_with_our_key({**good_claims, **change})) == (401, "token_invalid")


def test_missing_claims_are_refused(api, good_claims):
    for claim in ("exp", "jti", "sub", "aud"):
        claims = {k: v for k, v in good_claims.items() if k != claim}
        assert _status(api, _sign_with_our_key(claims))[0] == 401, claim


def test_wrong_typ_is_refused(api, good_claims):
    assert _status(api, _sign_with_our_key(good_claims, {"typ": "JWT"})) == (401, "token_invalid")


def test_expired_token(api, good_claims):
    now = int(time.time())
    token = _sign_with_our_key({**good_claims, "iat": now - 2000, "exp": now - 100})
    assert _status(api, token) == (401, "token_expired")


def test_stale_token_version_is_refused(api, user, good_claims):
    """The `ver` comparison alone refuses the token: the stale claims are re-signed onto a session
    that is still alive, so the session check cannot be what refuses them."""
    from accounts.services import user_token_version_bump
    from audit.services import Actor

    user_token_version_bump(user_id=user.pk, actor=Actor.system("test"), reason="test")
    fresh = login(api, user.username)["access_token"]
    live_sid = _claims(fresh)["sid"]
    assert _claims(fresh)["ver"] == 1 and _status(api, fresh) == (200, "")
    assert _status(api, _sign_with_our_key({**good_claims, "sid": live_sid})) == (401, "token_invalid")
    assert _status(api, _sign_with_our_key({**good_claims, "sid": live_sid, "ver": 1})) == (200, "")


def test_a_kick_recorded_by_another_process_refuses_a_stale_ver_on_a_live_session(api, user, good_claims):
    """A token_version bump another process published (a revocation row, no session ended) is
    learnt from the feed by a process that never saw the user before; the live session does
    not save the stale token."""
    from django.utils import timezone

    from sessions_app.models import Revocation
    from sessions_app.revstate import state

    token = _sign_with_our_key(good_claims)
    assert _status(api, token) == (200, "")  # the session is alive
    state().min_version.clear()  # this process knows nothing about the user
    Revocation.objects.create(kind=Revocation.KIND_USER, user_id=user.pk, min_token_version=1,
                              created_at=timezone.now())
    state().poll(force=True)
    assert _status(api, token) == (401, "token_invalid")
    assert _status(api, _sign_with_our_key({**good_claims, "ver": 1})) == (200, "")  # same session, current ver
    # applied directly, as the kick's own process does after commit
    state().min_version.clear()
    state().apply_user(user.pk, 1)
    assert _status(api, token) == (401, "token_invalid")


def test_tampered_payload_is_refused(api, user, signing_key):
    token = login(api, user.username)["access_token"]
    header, payload, sig = token.split(".")
    claims = _claims(token)
    claims["sub"] = "999"
    assert _status(api, f"{header}.{_b64(claims)}.{sig}") == (401, "token_invalid")


def test_malformed_shapes_are_refused(api, good_claims):
    good = _sign_with_our_key(good_claims)
    h, p, sig = good.split(".")
    kid = keyring().signing_key().kid
    cases = [f"{h}.{p}", f"{h}.{p}.{sig}.x", f"{h}.{p}.{sig[:-2]}!!", f"{h}!.{p}.{sig}", f"{h}.{p}.",
             _sign_with_our_key(good_claims, {"crit": ["exp"]}),
             f"{_b64({'alg': 'ES256', 'kid': kid, 'typ': 'at+jwt'})}."
             f"{base64.urlsafe_b64encode(b'[1]').decode().rstrip('=')}.{sig}"]
    for token in cases:
        assert _status(api, token) == (401, "token_invalid"), token


def test_time_claims(api, good_claims):
    now = int(time.time())
    assert _status(api, _sign_with_our_key({**good_claims, "iat": now + 3600}))[0] == 401  # issued in the future
    assert _status(api, _sign_with_our_key({**good_claims, "nbf": now + 3600}))[0] == 401
    assert _status(api, _sign_with_our_key({**good_claims, "exp": "tomorrow"}))[0] == 401
    assert _status(api, _sign_with_our_key({**good_claims, "aud": ["other", "fly"]}))[0] == 200  # aud as a list
    assert _status(api, _sign_with_our_key({**good_claims, "exp": now - 10}))[0] == 200  # within the 30 s leeway


# ---- every claim range-checked (issue 14: exp=1e300 raised OverflowError, a 500) ------------
OUT_OF_RANGE = [
    {"exp": 1e300}, {"exp": 10 ** 400}, {"exp": float("inf")}, {"exp": float("nan")}, {"exp": -1e300},
    {"exp": True}, {"iat": 1e300}, {"iat": -1e300}, {"iat": float("nan")}, {"nbf": 1e300}, {"nbf": -1e300},
    {"nbf": float("nan")}, {"auth_time": 1e300}, {"auth_time": -5}, {"auth_time": "yesterday"},
    {"ver": 10 ** 30}, {"ver": -1}, {"ver": True}, {"ver": 1.0}, {"sub": "9" * 30}, {"sub": "-5"}, {"sub": "0"},
    {"sub": " 1"}, {"sub": "\u0661"}, {"sub": 1}, {"tid": 10 ** 30}, {"tid": 0}, {"tid": "7"}, {"tid": 1.5},
    {"tid": True}, {"sid": 5}, {"sid": "x" * 1000}, {"sid": ""}, {"jti": 5}, {"jti": "j" * 1000}, {"scope": 5},
    {"roles": "tenant_admin"}, {"roles": [1]}, {"roles": 5}, {"roles": ["r" * 65]}, {"amr": "pwd"},
    {"amr": [None]}, {"iss": ["x"]}, {"aud": 5}, {"aud": [5]},
]


def _sign_raw(claims: dict) -> str:
    """Sign any JSON with our key, bypassing PyJWT's own claim checks (it refuses a list `iss`);
    NaN and Infinity go out as the bare literals Python's json module reads back."""
    key = keyring().signing_key()
    header = _b64({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"})
    payload = _b64(claims)
    sig = key.algorithm.sign(f"{header}.{payload}".encode(), key.private_key)
    return f"{header}.{payload}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


@pytest.mark.parametrize("change", OUT_OF_RANGE, ids=lambda c: f"{next(iter(c))}={str(next(iter(c.values())))[:12]}")
def test_out_of_range_claims_signed_by_us_are_token_invalid(api, good_claims, change):
    """Signed with our own key, so only the claim check stands between the value and the code
    that converts it (datetime, int(), a database column): every one is a 401, never a 500."""
    from audit.services import Actor
    from authz.services import platform_roles_seed, service_key_create, subject_role_grant

    token = _sign_raw({**good_claims, **change})
    assert _status(api, token) == (401, "token_invalid")
    r = api.post("/v1/authz/check", {"tenant": "platform", "object": "/x", "action": "read"}, format="json",
                 **bearer(token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"  # the lean path too
    platform_roles_seed()
    _, credential = service_key_create(name="clotho", actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=Actor.system("test"))
    r = api.post("/internal/introspect", {"token": token}, format="json", HTTP_AUTHORIZATION=f"ApiKey {credential}")
    assert r.status_code == 200 and r.json() == {"active": False}


def test_claims_at_the_edges_of_their_ranges_pass(api, good_claims):
    # control for the cases above: the boundaries themselves are accepted
    now = int(time.time())
    for change in ({"exp": now + 900.5, "iat": now + 0.5}, {"nbf": now}, {"auth_time": now - 30 * 24 * 3600},
                   {"roles": []}, {"amr": []}, {"aud": [dj_settings.CUSTOS_AUDIENCE]}):
        assert _status(api, _sign_with_our_key({**good_claims, **change})) == (200, ""), change


def test_a_lifetime_longer_than_we_issue_is_refused(api, good_claims):
    # exp far in the future but still a valid date: no token of ours lives longer than ACCESS_TTL
    now = int(time.time())
    assert _status(api, _sign_with_our_key({**good_claims, "iat": now, "exp": now + 10 * 365 * 86400})) == (
        401, "token_invalid")
