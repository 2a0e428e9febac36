"""Signing keys: the key ring, the token backend and the key services, at the edges the
mutation run (scripts/mutation.py) found untested."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as dj_settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from keys import services
from keys.keyring import KeyRing, LoadedKey, keyring
from keys.models import JwkKey

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = Actor.system("test")


def _key(offset: float = 0, alg: str = "ES256") -> JwkKey:
    return services.key_create(alg=alg, activates_at=timezone.now() + timedelta(seconds=offset), actor=SYSTEM)


def _loaded(activates_at, retired_at=None, verify_until=None) -> LoadedKey:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = services._public_jwk(private, "ES256")
    return LoadedKey(kid="k", alg="ES256", public_jwk=jwk, public_key=private.public_key(),
                     activates_at=activates_at, retired_at=retired_at, verify_until=verify_until)


# ---- keys/keyring.py ------------------------------------------------------------------------
def test_a_key_signs_from_its_activation_until_its_retirement():
    now = timezone.now()
    second = timedelta(seconds=1)
    assert _loaded(now).signs_at(now) is True
    assert _loaded(now + second).signs_at(now) is False
    assert _loaded(now - second, retired_at=now + second).signs_at(now) is True
    assert _loaded(now - second, retired_at=now).signs_at(now) is False
    assert _loaded(now).verifies_at(now) is True
    assert _loaded(now, verify_until=now + second).verifies_at(now) is True
    assert _loaded(now, verify_until=now).verifies_at(now) is False
    assert _loaded(now).algorithm is not None


def test_the_ring_signs_with_the_newest_active_key(db):
    older, newer, _future = _key(-100), _key(-10), _key(3600)
    ring = KeyRing()
    assert ring.signing_key().kid == newer.kid
    JwkKey.objects.filter(kid=newer.kid).update(retired_at=timezone.now() - timedelta(seconds=1))
    ring.reload()
    assert ring.signing_key().kid == older.kid


def test_no_signing_key_without_its_private_half(db, settings):
    from keys.store import FilesystemKeyStore

    key = _key(-10)
    FilesystemKeyStore(settings.CUSTOS_KEYS["KEY_DIR"]).delete(key.kid)
    ring = KeyRing()
    assert ring.signing_key() is None
    assert ring.verifying_key(key.kid) is not None  # the public half still verifies


def test_no_signing_key_at_all(db):
    _key(3600)  # published, not yet signing
    assert KeyRing().signing_key() is None


def test_a_reload_keeps_loaded_keys_and_takes_their_new_dates(db):
    key = _key(-10)
    ring = KeyRing()
    loaded = ring.signing_key()
    assert loaded.private_key is not None
    version = ring.version
    ring.reload()
    assert ring.keys[key.kid] is loaded and ring.version == version  # nothing changed: same object, same version
    later = timezone.now() + timedelta(hours=1)
    JwkKey.objects.filter(kid=key.kid).update(retired_at=later, verify_until=later + timedelta(hours=1),
                                              activates_at=later - timedelta(hours=2))
    ring.reload()
    assert ring.keys[key.kid] is loaded
    assert (loaded.retired_at, loaded.verify_until, loaded.activates_at) == (
        later, later + timedelta(hours=1), later - timedelta(hours=2))
    assert ring.version != version


def test_the_ring_holds_only_active_rows_of_allowed_algorithms(db):
    key = _key(-10)
    JwkKey.objects.create(kid="hs", alg="HS256", public_jwk={"kty": "oct"}, activates_at=timezone.now())
    gone = _key(-20)
    JwkKey.objects.filter(kid=gone.kid).update(active=False)
    ring = KeyRing()
    ring.reload()
    assert set(ring.keys) == {key.kid}


def test_the_ring_rereads_the_table_after_its_refresh_interval(db, monkeypatch):
    from keys import keyring as keyring_module
    from keys.conf import conf

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(keyring_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    first = _key(-10)
    ring = KeyRing()
    assert ring.signing_key().kid == first.kid
    second = _key(-5)
    clock.now += conf().keyring_refresh  # not yet past the interval
    assert ring.signing_key().kid == first.kid
    clock.now += 0.5
    assert ring.signing_key().kid == second.kid


def test_a_known_key_learns_its_new_dates_at_the_next_refresh(db, monkeypatch):
    from keys import keyring as keyring_module
    from keys.conf import conf

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(keyring_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    key = _key(-10)
    ring = KeyRing()
    assert ring.verifying_key(key.kid) is not None
    JwkKey.objects.filter(kid=key.kid).update(verify_until=timezone.now() - timedelta(seconds=1))
    clock.now += conf().keyring_refresh + 1
    assert ring.verifying_key(key.kid) is None


def test_a_fresh_ring_publishes_without_being_asked_first(db):
    key = _key(-10)
    assert [k.kid for k in KeyRing().published()] == [key.kid]


def test_an_unknown_kid_rereads_the_table_at_most_once_a_second(db, monkeypatch):
    from keys import keyring as keyring_module

    clock = SimpleNamespace(now=5000.0)
    monkeypatch.setattr(keyring_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    _key(-10)
    ring = KeyRing()
    assert ring.verifying_key("nobody") is None  # a forced re-read, now
    late = _key(-5)
    clock.now += 0.5
    assert ring.verifying_key(late.kid) is None  # within the second: not re-read
    clock.now += 0.5
    assert ring.verifying_key(late.kid).kid == late.kid  # one second after the last: re-read


def test_a_key_past_its_verify_until_neither_verifies_nor_is_published(db, api):
    old, new = _key(-100), _key(-10)
    JwkKey.objects.filter(kid=old.kid).update(retired_at=timezone.now() - timedelta(seconds=20),
                                              verify_until=timezone.now() - timedelta(seconds=1))
    nxt = _key(3600)
    ring = KeyRing()
    assert ring.verifying_key(old.kid) is None and ring.verifying_key(new.kid) is not None
    assert {k.kid for k in ring.published()} == {new.kid, nxt.kid}


def test_the_jwks_document_and_its_etag(db):
    key = _key(-10)
    ring = KeyRing()
    body, etag = ring.jwks_document()
    doc = json.loads(body)
    assert doc == {"keys": [{**key.public_jwk, "kid": key.kid, "alg": "ES256", "use": "sig"}]}
    assert body == json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    assert etag == '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    again = ring.jwks_document()
    assert again == (body, etag) and again[0] is body  # rendered once per version of the ring
    other = _key(3600)
    ring.reload()
    body2, etag2 = ring.jwks_document()
    assert {k["kid"] for k in json.loads(body2)["keys"]} == {key.kid, other.kid} and etag2 != etag


def test_reset_keyring_forgets_the_ring_and_the_backends_cache(db):
    from keys import backends
    from keys.keyring import reset_keyring

    ring = keyring()
    backends.token_backend()
    reset_keyring()
    assert keyring() is not ring and backends._backend is None and keyring() is keyring()


# ---- keys/backends.py -----------------------------------------------------------------------
def _claims(**change) -> dict:
    now = int(time.time())
    claims = {"sub": "1", "jti": "j1", "iat": now, "exp": now + 600, "iss": dj_settings.CUSTOS_ISSUER,
              "aud": dj_settings.CUSTOS_AUDIENCE}
    claims.update(change)
    return {k: v for k, v in claims.items() if v is not ...}


def _sign(claims: dict, **header) -> str:
    key = keyring().signing_key()
    return jwt.encode(claims, key.private_key, algorithm=key.alg,
                      headers={"kid": key.kid, "typ": "at+jwt", **header})


def _reason(token) -> str:
    from keys.backends import KeyRingTokenBackend, TokenRejected

    with pytest.raises(TokenRejected) as caught:
        KeyRingTokenBackend().decode(token)
    assert str(caught.value) == caught.value.reason  # what the logs show
    return caught.value.reason


@pytest.fixture
def backend(signing_key):
    from keys.backends import KeyRingTokenBackend

    return KeyRingTokenBackend()


def test_the_backend_signs_with_our_issuer_audience_and_header(backend, signing_key):
    token = backend.encode({"sub": "1", "aud": "x", "iss": "y"})
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": signing_key.kid, "typ": "at+jwt"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["iss"]) == (dj_settings.CUSTOS_AUDIENCE, dj_settings.CUSTOS_ISSUER)


def test_no_signing_key_is_a_503(db):
    from keys.backends import KeyRingTokenBackend, NoSigningKey

    with pytest.raises(NoSigningKey) as caught:
        KeyRingTokenBackend().encode({"sub": "1"})
    assert caught.value.status == 503 and caught.value.code == "signing_key_unavailable"


def test_each_refusal_names_its_reason(backend, signing_key):
    good = _sign(_claims())
    h, p, s = good.split(".")
    assert backend.decode(good)["sub"] == "1"
    assert backend.decode(good.encode())["sub"] == "1"  # bytes are read as ASCII
    assert _reason(f"{h}.{p}") == "malformed"
    assert _reason(f"{h}.{p}.{s}" + "A" * 8192) == "malformed"
    assert _reason("a." * 2 + "b" * 8200) == "malformed"
    assert _reason(f"{h}x.{p}.{s}") == "malformed"  # a length no base64 has
    assert _reason(f"{h}.{p}.{s}!") == "malformed"
    assert _reason(f"{h}.{p}.{s}!!!!") == "malformed"  # the decoder alone would drop them and accept the token
    b64 = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()  # noqa: E731
    assert _reason(f"{b64([1])}.{p}.{s}") == "malformed"
    assert _reason(f"{base64.urlsafe_b64encode(b'{').rstrip(b'=').decode()}.{p}.{s}") == "malformed"
    assert _reason(_sign(_claims(), crit=["exp"])) == "malformed"
    assert _reason(f"{b64({'alg': 'HS256', 'kid': signing_key.kid, 'typ': 'at+jwt'})}.{p}.{s}") == (
        "algorithm_not_allowed")
    assert _reason(_sign(_claims(), typ="JWT")) == "wrong_typ"
    assert _reason(f"{b64({'alg': 'ES256', 'kid': signing_key.kid})}.{p}.{s}") == "wrong_typ"
    assert backend.decode(_sign(_claims(), typ="application/AT+JWT"))["sub"] == "1"
    assert _reason(f"{b64({'alg': 'ES256', 'typ': 'at+jwt'})}.{p}.{s}") == "no_kid"
    assert _reason(_sign(_claims(), kid="unknown")) == "unknown_kid"
    assert _reason(f"{b64({'alg': 'RS256', 'kid': signing_key.kid, 'typ': 'at+jwt'})}.{p}.{s}") == (
        "algorithm_mismatch")
    assert _reason(f"{h}.{b64({**_claims(), 'sub': '2'})}.{s}") == "bad_signature"
    key = keyring().signing_key()
    signing_input = f"{h}.{b64([1])}".encode()
    sig = base64.urlsafe_b64encode(key.algorithm.sign(signing_input, key.private_key)).rstrip(b"=").decode()
    assert _reason(f"{h}.{b64([1])}.{sig}") == "malformed"  # signed, but not an object
    raw = base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(key.algorithm.sign(f"{h}.{raw}".encode(), key.private_key)).rstrip(b"=").decode()
    assert _reason(f"{h}.{raw}.{sig}") == "malformed"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "iss", "aud"])
def test_each_required_claim(backend, claim):
    assert _reason(_sign(_claims(**{claim: ...}))) == f"missing_{claim}"


def test_claim_checks_at_their_edges(backend, monkeypatch):
    from keys import backends

    now = 2_000_000_000
    monkeypatch.setattr(backends, "time", SimpleNamespace(time=lambda: now))
    leeway = int(backend.get_leeway().total_seconds())

    def ok(**change) -> bool:
        try:
            backend.decode(_sign(_claims(**{"iat": now, "exp": now + 600, **change})))
        except backends.TokenBackendExpiredToken:
            return False
        except backends.TokenRejected:
            return False
        return True

    assert ok(exp=now - leeway + 1) and not ok(exp=now - leeway)
    with pytest.raises(backends.TokenBackendExpiredToken):
        backend.decode(_sign(_claims(iat=now - 900, exp=now - leeway)))
    assert ok(iat=now + leeway, exp=now + 600) and not ok(iat=now + leeway + 1, exp=now + 600)
    assert ok(nbf=now + leeway) and not ok(nbf=now + leeway + 1)
    assert _reason(_sign(_claims(iat=now, exp=now + 600, nbf=now + leeway + 1))) == "not_yet_valid"
    assert ok(jti="j") and ok(jti="j" * 255) and not ok(jti="j" * 256) and not ok(jti="")  # the jti column's width
    assert _reason(_sign(_claims(iat=now, exp=now + 600, jti=""))) == "bad_claim"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, sub=1))) == "bad_claim"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, jti=7))) == "bad_claim"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, nbf="x"))) == "bad_time_claim"
    assert _reason(_sign(_claims(iat="x", exp=now + 600))) == "bad_time_claim"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, iss="https://evil"))) == "wrong_issuer"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, aud="other"))) == "wrong_audience"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, aud=["other"]))) == "wrong_audience"
    assert _reason(_sign(_claims(iat=now, exp=now + 600, aud=[dj_settings.CUSTOS_AUDIENCE, 5]))) == "wrong_audience"
    assert ok(aud=["other", dj_settings.CUSTOS_AUDIENCE])


def test_epoch_ok_edges():
    from keys.backends import MAX_EPOCH, epoch_ok

    assert epoch_ok(0) and epoch_ok(MAX_EPOCH) and epoch_ok(1.5) and epoch_ok(MAX_EPOCH - 0.5)
    assert not epoch_ok(-1) and not epoch_ok(MAX_EPOCH + 1) and not epoch_ok(True) and not epoch_ok("1")
    assert not epoch_ok(float("inf")) and not epoch_ok(float("nan")) and not epoch_ok(None)
    assert MAX_EPOCH == 253402300799  # 9999-12-31T23:59:59Z, the last second datetime holds


def test_not_a_token_at_all(backend):
    for value in (12345, None, ["a", "b", "c"]):
        assert _reason(value) == "malformed"


def _token_of_length(length: int) -> str:
    """A token of ours exactly `length` characters long (padded through a header parameter and
    a claim, so its signature is good)."""
    for head in range(4):
        for pad in range(5600, 6000):
            token = _sign(_claims(pad="p" * pad), x="h" * head)
            if len(token) == length:
                return token
    raise AssertionError(f"no token of {length} characters")


def test_the_longest_token_verified_is_8191_characters(backend):
    assert backend.decode(_token_of_length(8191))["sub"] == "1"
    assert _reason(_token_of_length(8192)) == "malformed"


def test_a_signature_is_checked_once_per_process(backend, signing_key, monkeypatch):
    key = keyring().signing_key()
    calls = []
    real = key.algorithm.verify
    monkeypatch.setattr(key.algorithm, "verify", lambda *a: (calls.append(1), real(*a))[1])
    token = _sign(_claims())
    for _ in range(3):
        assert backend.decode(token)["sub"] == "1"
    assert len(calls) == 1


def test_a_remembered_signature_still_needs_its_key_and_fresh_claims(backend, signing_key, monkeypatch):
    from keys import backends

    token = _sign(_claims())
    assert backend.decode(token)["sub"] == "1"
    assert token in backend._verified
    first = backend.decode(token)
    first["sub"] = "changed"  # a caller's copy: the remembered claims stay as signed
    assert backend.decode(token)["sub"] == "1"
    later = time.time() + 3600
    monkeypatch.setattr(backends, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(backends.TokenBackendExpiredToken):
        backend.decode(token)  # remembered, and expired all the same
    monkeypatch.undo()
    JwkKey.objects.filter(kid=signing_key.kid).update(verify_until=timezone.now() - timedelta(seconds=1))
    keyring().reload()
    assert _reason(token) == "unknown_kid"
    with pytest.raises(backends.TokenRejected):
        backend.decode(token)


def test_the_remembered_signatures_are_bounded_oldest_out(backend, monkeypatch):
    monkeypatch.setattr(type(backend), "VERIFIED_MAX", 2)
    tokens = [_sign(_claims(jti=f"j{i}")) for i in range(3)]
    for t in tokens:
        backend.decode(t)
    assert list(backend._verified) == tokens[1:]


def test_decode_without_verification_reads_the_claims(backend):
    token = _sign(_claims(sub="5"))
    assert backend.decode(token, verify=False)["sub"] == "5"
    assert backend.decode(token[:-4] + "AAAA", verify=False)["sub"] == "5"


def test_the_backend_is_one_per_process(db):
    from keys.backends import token_backend

    assert token_backend() is token_backend()


# ---- keys/services.py -----------------------------------------------------------------------
def test_rfc7638_thumbprints():
    # RFC 7638, section 3.1
    rsa = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
           "n": ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
                 "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
                 "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
                 "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")}
    assert services._thumbprint(rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    ec_jwk = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
              "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "use": "sig"}
    canonical = ('{"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
                 '"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}')
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert services._thumbprint(ec_jwk) == expected


def test_public_jwks_hold_only_public_members(settings):
    from cryptography.hazmat.primitives.asymmetric import rsa

    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "RSA_BITS": 2048}
    r = services._generate("RS256")
    assert isinstance(r, rsa.RSAPrivateKey) and r.key_size == 2048 and r.public_key().public_numbers().e == 65537
    assert set(services._public_jwk(r, "RS256")) == {"kty", "n", "e"}
    e = services._generate("ES256")
    assert isinstance(e, ec.EllipticCurvePrivateKey) and e.curve.name == "secp256r1"
    assert set(services._public_jwk(e, "ES256")) == {"kty", "crv", "x", "y"}


def test_an_unsupported_algorithm_is_refused():
    from custos.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        services._generate("HS256")


def test_key_create_is_audited_and_resets_the_ring_after_commit(db):
    ring = keyring()
    at = timezone.now() + timedelta(seconds=30)
    row = services.key_create(alg="ES256", activates_at=at, actor=SYSTEM)
    assert (row.alg, row.activates_at, row.active) == ("ES256", at, True)
    event = AuditEvent.objects.get(action="key.created")
    assert event.metadata == {"kid": row.kid, "alg": "ES256", "activates_at": at.isoformat()}
    assert keyring() is not ring


@pytest.mark.parametrize(("kwargs", "delay"), [({"activate_now": True}, 0), ({"publish_delay": 5}, 5), ({}, 600)])
def test_rotation_stages_the_new_key_and_retires_the_old(signing_key, kwargs, delay, settings):
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "PUBLISH_DELAY": 600}
    before = timezone.now()
    new = services.keys_rotate(actor=SYSTEM, **kwargs)
    after = timezone.now()
    assert before + timedelta(seconds=delay) <= new.activates_at <= after + timedelta(seconds=delay)
    assert new.alg == "ES256"
    old = JwkKey.objects.get(kid=signing_key.kid)
    assert old.retired_at == new.activates_at and before <= old.rotated_at <= after
    ttl = dj_settings.CUSTOS_SESSIONS["ACCESS_TTL"] + dj_settings.CUSTOS_SESSIONS["LEEWAY"]
    assert old.verify_until == new.activates_at + timedelta(seconds=ttl)
    event = AuditEvent.objects.get(action="key.rotated")
    assert event.metadata == {"new_kid": new.kid, "alg": "ES256", "activates_at": new.activates_at.isoformat(),
                              "retired_kids": [signing_key.kid]}


def test_rotation_leaves_retired_keys_alone(signing_key):
    first = services.keys_rotate(actor=SYSTEM, activate_now=True)
    old_retired = JwkKey.objects.get(kid=signing_key.kid).retired_at
    second = services.keys_rotate(actor=SYSTEM, alg="RS256", activate_now=True)
    assert second.alg == "RS256"
    assert JwkKey.objects.get(kid=signing_key.kid).retired_at == old_retired
    assert JwkKey.objects.get(kid=first.kid).retired_at == second.activates_at


def test_key_ensure_only_without_a_signing_key(db):
    future = _key(3600)
    made = services.key_ensure(actor=SYSTEM)  # a key that signs later does not count
    assert made is not None and made.kid != future.kid and made.activates_at <= timezone.now()
    assert services.key_ensure(actor=SYSTEM) is None
    JwkKey.objects.filter(kid=made.kid).update(retired_at=timezone.now())
    again = services.key_ensure(actor=SYSTEM)  # a retired key does not count either
    assert again is not None and again.kid not in (made.kid, future.kid)


def test_prune_unpublishes_expired_keys_and_drops_their_private_halves(db, settings):
    from pathlib import Path

    key_dir = Path(settings.CUSTOS_KEYS["KEY_DIR"])
    expired, boundary, live = _key(-100), _key(-50), _key(-10)
    now = timezone.now()
    JwkKey.objects.filter(kid=expired.kid).update(verify_until=now - timedelta(seconds=5))
    JwkKey.objects.filter(kid=boundary.kid).update(verify_until=now + timedelta(hours=1))
    keyring().reload()
    assert expired.kid in keyring().keys  # this process's ring knows it until the prune commits
    assert services.keys_prune(actor=SYSTEM) == [expired.kid]
    assert set(JwkKey.objects.filter(active=True).values_list("kid", flat=True)) == {boundary.kid, live.kid}
    assert not (key_dir / f"{expired.kid}.pem").exists() and (key_dir / f"{live.kid}.pem").exists()
    assert expired.kid not in keyring().keys
    assert services.keys_prune(actor=SYSTEM) == []


def test_a_rolled_back_prune_keeps_the_private_halves(db, settings):
    from pathlib import Path

    from django.db import transaction

    key = _key(-100)
    JwkKey.objects.filter(kid=key.kid).update(verify_until=timezone.now() - timedelta(seconds=5))
    with pytest.raises(RuntimeError), transaction.atomic():
        services.keys_prune(actor=SYSTEM)
        raise RuntimeError
    assert (Path(settings.CUSTOS_KEYS["KEY_DIR"]) / f"{key.kid}.pem").exists()
    assert JwkKey.objects.get(kid=key.kid).active is True
