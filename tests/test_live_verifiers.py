"""Third-party verifiers check Custos tokens from the JWKS URL alone, over real HTTP."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest
import requests
from django.conf import settings

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
JS_DIR = Path(__file__).parent / "js"


@pytest.fixture
def live_token(live_server, user, signing_key) -> tuple[str, str]:
    r = requests.post(f"{live_server.url}/v1/auth/login", json={"username": user.username, "password": PASSWORD},
                      timeout=10)
    assert r.status_code == 200, r.text
    return live_server.url, r.json()["access_token"]


def test_pyjwt_jwks_client_verifies_over_http(live_token):
    base, token = live_token
    client = jwt.PyJWKClient(f"{base}/internal/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=settings.CUSTOS_AUDIENCE,
                        issuer=settings.CUSTOS_ISSUER)
    assert claims["sid"] and claims["sub"]
    # and it refuses a token whose payload was altered
    head, body, sig = token.split(".")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{body[:-2]}AA.{sig}", key.key, algorithms=["ES256"],
                   audience=settings.CUSTOS_AUDIENCE, issuer=settings.CUSTOS_ISSUER)


def _node_verify(base: str, token: str) -> tuple[int, dict]:
    assert shutil.which("node"), "node is required for the jose verifier test (make test installs tests/js)"
    assert (JS_DIR / "node_modules" / "jose").exists(), "run `npm ci --prefix tests/js` (make test does)"
    proc = subprocess.run(["node", str(JS_DIR / "verify.mjs"), f"{base}/internal/jwks.json",
                           settings.CUSTOS_ISSUER, settings.CUSTOS_AUDIENCE, token],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_npm_jose_remote_jwks_verifies(live_token):
    base, token = live_token
    code, out = _node_verify(base, token)
    assert code == 0, out
    assert out["protectedHeader"]["typ"] == "at+jwt" and out["payload"]["sub"]
    head, body, sig = token.split(".")
    code, out = _node_verify(base, f"{head}.{body}.{sig[:-4]}AAAA")
    assert code == 1 and "error" in out
