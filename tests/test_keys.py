"""Signing keys: storage, staged rotation, retirement, RS256, and the JWKS endpoint."""
from __future__ import annotations

import os
import stat
from datetime import timedelta
from io import StringIO
from pathlib import Path

import jwt
import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from keys.keyring import keyring, reset_keyring
from keys.models import JwkKey
from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db(transaction=True)


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def _jwks_kids(api) -> set[str]:
    return {k["kid"] for k in api.get("/internal/jwks.json").json()["keys"]}


def test_private_key_on_disk_only_with_0600(signing_key, settings):
    key_dir = Path(settings.CUSTOS_KEYS["KEY_DIR"])
    pem = key_dir / f"{signing_key.kid}.pem"
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_dir).st_mode) == 0o700
    assert b"PRIVATE KEY" in pem.read_bytes()
    row = JwkKey.objects.get(kid=signing_key.kid)
    assert set(row.public_jwk) == {"kty", "crv", "x", "y"}  # no "d": nothing private in the database


def test_ensure_signing_key_is_idempotent(db):
    out = StringIO()
    call_command("ensure_signing_key", stdout=out)
    call_command("ensure_signing_key", stdout=out)
    assert JwkKey.objects.count() == 1
    assert "already active" in out.getvalue()


def test_staged_rotation_publishes_first_and_signs_later(api, user, signing_key):
    before = login(api, user.username)
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    new = JwkKey.objects.exclude(kid=signing_key.kid).get()
    reset_keyring()
    assert _jwks_kids(api) == {signing_key.kid, new.kid}  # published at once
    during = login(api, user.username)
    assert _kid(during["access_token"]) == signing_key.kid  # still signing with the old key

    listing = StringIO()
    call_command("list_keys", stdout=listing)
    states = {line.split()[0]: line.split()[2] for line in listing.getvalue().splitlines()[1:]}
    assert states == {signing_key.kid: "active", new.kid: "next"}

    # the publish delay passes
    JwkKey.objects.filter(kid=new.kid).update(activates_at=timezone.now() - timedelta(seconds=1))
    JwkKey.objects.filter(kid=signing_key.kid).update(retired_at=timezone.now() - timedelta(seconds=1))
    reset_keyring()
    after = login(api, user.username)
    assert _kid(after["access_token"]) == new.kid
    # a token signed before the rotation still verifies after it
    assert api.get("/v1/users/me", **bearer(before["access_token"])).status_code == 200
    assert AuditEvent.objects.filter(action="key.rotated").count() == 1


def test_activate_now_and_retirement_end_to_end(api, user, signing_key):
    old_pair = login(api, user.username)
    call_command("rotate_keys", "--activate-now", stdout=StringIO())
    reset_keyring()
    new_pair = login(api, user.username)
    assert _kid(new_pair["access_token"]) != signing_key.kid
    assert api.get("/v1/users/me", **bearer(old_pair["access_token"])).status_code == 200

    old = JwkKey.objects.get(kid=signing_key.kid)
    assert old.retired_at is not None
    # verifiable until the longest token it signed has expired: access TTL + leeway after retirement
    assert old.verify_until - old.retired_at == timedelta(seconds=900 + 30)

    JwkKey.objects.filter(kid=old.kid).update(verify_until=timezone.now() - timedelta(seconds=1))
    reset_keyring()
    assert old.kid not in _jwks_kids(api)
    assert api.get("/v1/users/me", **bearer(old_pair["access_token"])).status_code == 401
    call_command("rotate_keys", "--delay", "600", stdout=StringIO())  # prunes the expired key
    old.refresh_from_db()
    assert old.active is False
    from django.conf import settings

    assert not (Path(settings.CUSTOS_KEYS["KEY_DIR"]) / f"{old.kid}.pem").exists()


def test_rs256_keys_work(api, user, signing_key):
    call_command("rotate_keys", "--alg", "RS256", "--activate-now", stdout=StringIO())
    reset_keyring()
    pair = login(api, user.username)
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "RS256"
    assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 200
    keys = {k["kid"]: k for k in api.get("/internal/jwks.json").json()["keys"]}
    rsa = keys[_kid(pair["access_token"])]
    assert rsa["kty"] == "RSA" and rsa["alg"] == "RS256" and "d" not in rsa and "p" not in rsa


def test_a_key_staged_by_another_process_is_picked_up(api, user, signing_key):
    """Another process wrote the row and the PEM; this process's ring learns it on first sight
    of the unknown kid, without a restart."""
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from django.conf import settings

    from keys.services import _public_jwk, _thumbprint
    from keys.store import FilesystemKeyStore

    old_pair = login(api, user.username)
    assert keyring().verifying_key(signing_key.kid) is not None  # ring loaded in this process
    private = _ec.generate_private_key(_ec.SECP256R1())
    jwk = _public_jwk(private, "ES256")
    kid = _thumbprint(jwk)
    FilesystemKeyStore(settings.CUSTOS_KEYS["KEY_DIR"]).put(kid, private)
    JwkKey.objects.create(kid=kid, alg="ES256", public_jwk=jwk, activates_at=timezone.now())
    claims = jwt.decode(old_pair["access_token"], options={"verify_signature": False})
    forged_by_other_process = jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
    assert kid not in keyring().keys
    assert api.get("/v1/users/me", **bearer(forged_by_other_process)).status_code == 200
    assert kid in keyring().keys


def test_jwks_endpoint_caching_headers(api, signing_key):
    r = api.get("/internal/jwks.json")
    assert r.status_code == 200
    assert r["Cache-Control"].startswith("public, max-age=")
    etag = r["ETag"]
    assert api.get("/internal/jwks.json", HTTP_IF_NONE_MATCH=etag).status_code == 304
    same = api.get("/.well-known/jwks.json")
    assert same.content == r.content
    doc = api.get("/.well-known/openid-configuration").json()
    assert doc["jwks_uri"].endswith("/internal/jwks.json") and doc["issuer"]


def test_wsgi_fast_path_serves_the_same_jwks(api, signing_key):
    import io

    from config.wsgi import application

    via_django = api.get("/internal/jwks.json")
    for path in ("/internal/jwks.json", "/.well-known/jwks.json"):
        captured = {}

        def start(status, headers, captured=captured):
            captured["status"], captured["headers"] = status, dict(headers)

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "x",
                   "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_X_REQUEST_ID": "r-1"}
        body = b"".join(application(environ, start))
        assert captured["status"] == "200 OK" and body == via_django.content
        assert captured["headers"]["ETag"] == via_django["ETag"] and captured["headers"]["X-Request-Id"] == "r-1"
        environ["HTTP_IF_NONE_MATCH"] = via_django["ETag"]
        assert b"".join(application(environ, start)) == b"" and captured["status"].startswith("304")
    # anything else goes to Django
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "x",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    assert b'"ok"' in b"".join(application(environ, lambda s, h: None))


def test_a_retired_key_stays_published_until_its_verify_until(api, user, signing_key):
    """Verifiers (Clotho) check tokens offline against the JWKS alone: a key that stopped
    signing must stay in it until the last token it signed has expired, on both JWKS paths."""
    import io

    from config.wsgi import application

    def fast_path_kids() -> set[str]:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/.well-known/jwks.json", "wsgi.input": io.BytesIO(b""),
                   "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
        import json

        return {k["kid"] for k in json.loads(b"".join(application(environ, lambda s, h: None)))["keys"]}

    old_token = login(api, user.username)["access_token"]
    call_command("rotate_keys", "--activate-now", stdout=StringIO())
    reset_keyring()
    new = JwkKey.objects.exclude(kid=signing_key.kid).get()
    old = JwkKey.objects.get(kid=signing_key.kid)
    assert old.retired_at <= timezone.now() < old.verify_until  # retired: no longer signing, still verifying
    assert _jwks_kids(api) == fast_path_kids() == {signing_key.kid, new.kid}
    assert _kid(login(api, user.username)["access_token"]) == new.kid
    # a minute before its verify_until it is still there (the ring refreshes from the table)
    JwkKey.objects.filter(kid=old.kid).update(retired_at=timezone.now() - timedelta(seconds=900),
                                              verify_until=timezone.now() + timedelta(seconds=60))
    reset_keyring()
    assert _jwks_kids(api) == fast_path_kids() == {signing_key.kid, new.kid}
    assert api.get("/v1/users/me", **bearer(old_token)).status_code == 200
    JwkKey.objects.filter(kid=old.kid).update(verify_until=timezone.now() - timedelta(seconds=1))
    reset_keyring()
    assert _jwks_kids(api) == fast_path_kids() == {new.kid}
