"""docs/clotho/verifier.py, the reference verifier in docs/clotho.md, against a live Custos
(gunicorn, two workers): offline checks with a cached JWKS, kicks from the revocation feed,
role changes, a key rotation, and check-batch (issue 19)."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.server import manage, running_custos

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long passphrase for the gateway test 42"


def _verifier_module():
    spec = importlib.util.spec_from_file_location("clotho_verifier", ROOT / "docs" / "clotho" / "verifier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_verifier_against_a_live_custos(tmp_path):
    verifier_code = (ROOT / "docs" / "clotho" / "verifier.py").read_text()
    assert len([line for line in verifier_code.splitlines() if line.strip()]) <= 60  # as docs/clotho.md promises
    mod = _verifier_module()
    with running_custos(tmp_path) as base:
        out = manage(tmp_path, "create_service_key", "clotho", "--role", "gateway")
        key = out.split("ApiKey ")[1].split()[0]
        s = requests.Session()

        def sign_in(username: str) -> dict:
            r = s.post(f"{base}/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()

        assert s.post(f"{base}/v1/auth/register", json={"username": "gwuser", "password": PASSWORD},
                      timeout=10).status_code == 201
        v = mod.CustosVerifier(base, "http://127.0.0.1:8000", "fly", key, refetch_every=1.0)
        v.poll()
        first = sign_in("gwuser")
        claims = v.verify(first["access_token"])
        user_id = int(claims["sub"])

        # a token under a kid Custos never published: refused, and the JWKS is refetched at most once a minute
        forged = jwt.encode({"sub": "1"}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                            headers={"kid": "not-ours"})
        with pytest.raises(jwt.InvalidTokenError):
            v.verify(forged)
        fetched = v.fetched
        with pytest.raises(jwt.InvalidTokenError):
            v.verify(forged)
        assert v.fetched == fetched  # the second forged kid cost Custos nothing

        # a logout is a kick: refused at the gateway after the next poll
        assert s.post(f"{base}/v1/auth/logout", headers={"Authorization": f"Bearer {first['access_token']}"},
                      timeout=10).status_code in (200, 204)
        v.poll()
        with pytest.raises(jwt.InvalidTokenError, match="revoked"):
            v.verify(first["access_token"])

        # a role change: tokens issued before it are refused until refreshed
        second = sign_in("gwuser")
        assert v.verify(second["access_token"])
        manage(tmp_path, "shell", "-c", "from audit.services import Actor; from authz.services import "
               f"subject_role_grant; subject_role_grant(subject='user:{user_id}', role='auditor', "
               "domain='platform', actor=Actor.system('test'))")
        v.poll()
        with pytest.raises(jwt.InvalidTokenError, match="roles changed"):
            v.verify(second["access_token"])
        time.sleep(1.2)  # the cutoff sits a moment after the change (ROLES_GAP): refresh after it
        refreshed = s.post(f"{base}/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}, timeout=10)
        assert refreshed.status_code == 200, refreshed.text
        assert "auditor" in v.verify(refreshed.json()["access_token"]).get("roles", [])

        # a key rotation: the new kid is fetched once it signs
        manage(tmp_path, "rotate_keys", "--activate-now")
        time.sleep(11)  # each worker re-reads the key table every CUSTOS_KEYRING_REFRESH (10 s)
        rotated = sign_in("gwuser")
        new_kid = jwt.get_unverified_header(rotated["access_token"])["kid"]
        assert new_kid not in v.keys
        time.sleep(1.1)  # past refetch_every since the last forced fetch
        assert v.verify(rotated["access_token"])["sub"] == str(user_id) and new_kid in v.keys

        # check-batch, as the gateway asks it
        answers = v.check_batch([{"subject": f"user:{user_id}", "tenant": "platform", "object": "/audit/events",
                                  "action": "read"},
                                 {"subject": f"user:{user_id}", "tenant": "platform", "object": "/keys",
                                  "action": "write"}])
        assert answers == [True, False]
