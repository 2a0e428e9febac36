"""A Python client generated from the served schema with openapi-python-client (what the gateway
team does, issue 19) works against a live Custos: a sign-in, a refused sign-in that comes back as
a typed error (it was None), a refresh, /users/me, and a check-batch with a service key. One
gunicorn for the module; generation takes a second or two."""
from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.server import manage, running_custos

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PASSPHRASE = "a long and unusual passphrase 7"
GARBAGE = "x.y"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A running Custos with a service key `clotho` holding the gateway role."""
    var = tmp_path_factory.mktemp("var")
    with running_custos(var, workers=1) as base:  # it makes (on MariaDB) and migrates the database first
        out = manage(var, "create_service_key", "clotho", "--role", "gateway")
        credential = re.search(r"Authorization: ApiKey (\S+)", out).group(1)
        yield base, credential


@pytest.fixture(scope="module")
def client_pkg(live, tmp_path_factory):
    base, _ = live
    out = tmp_path_factory.mktemp("client")
    r = requests.get(f"{base}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}, timeout=30)
    assert r.status_code == 200
    (out / "openapi.json").write_text(json.dumps(r.json()))
    (out / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: not needed to import it
    proc = subprocess.run([str(GENERATOR), "generate", "--path", str(out / "openapi.json"), "--meta", "none",
                           "--output-path", str(out / "custos_client"), "--config", str(out / "config.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stdout, proc.stdout  # nothing of the schema was skipped
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("custos_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "custos_client" or m.startswith("custos_client.")]:
            del sys.modules[name]


def test_generated_client_signs_in_refreshes_and_checks(live, client_pkg):
    base, credential = live
    from custos_client import AuthenticatedClient, Client
    from custos_client.api.v1 import (
        v1_auth_login_create,
        v1_auth_refresh_create,
        v1_auth_register_create,
        v1_authz_check_batch_create,
        v1_users_me_retrieve,
    )
    from custos_client.models import (
        CheckBatchRequest,
        CheckBatchResult,
        CheckRequest,
        Error,
        ErrorCode,
        LoginRequest,
        Me,
        RefreshRequest,
        Registered,
        RegisterRequest,
        TokenPair,
    )

    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    registered = v1_auth_register_create.sync_detailed(
        client=anonymous, body=RegisterRequest(username="gen-client", password=PASSPHRASE))
    assert registered.status_code == 201 and isinstance(registered.parsed, Registered), registered.content
    user_id = registered.parsed.user.id

    # a sign-in that succeeds: a typed token pair
    signed = v1_auth_login_create.sync_detailed(
        client=anonymous, body=LoginRequest(username="gen-client", password=PASSPHRASE))
    assert signed.status_code == 200 and isinstance(signed.parsed, TokenPair), signed.content
    pair = signed.parsed
    assert pair.user.id == user_id and pair.token_type.value == "Bearer" and pair.expires_in > 0

    # a sign-in that fails: a typed error, not None
    refused = v1_auth_login_create.sync_detailed(
        client=anonymous, body=LoginRequest(username="gen-client", password=PASSPHRASE + " not"))
    assert refused.status_code == 401
    assert isinstance(refused.parsed, Error), refused.parsed
    assert refused.parsed.error.code == ErrorCode.INVALID_CREDENTIALS
    assert refused.parsed.request_id == refused.headers["x-request-id"]
    bad = v1_auth_login_create.sync_detailed(client=anonymous, body=LoginRequest(username="", password=""))
    assert bad.status_code == 400 and isinstance(bad.parsed, Error)
    assert bad.parsed.error.code == ErrorCode.VALIDATION_ERROR and bad.parsed.error.fields is not None

    # a refresh: a new pair; the spent token, once the grace window is over, is refused (typed)
    refreshed = v1_auth_refresh_create.sync_detailed(client=anonymous,
                                                     body=RefreshRequest(refresh_token=pair.refresh_token))
    assert refreshed.status_code == 200 and isinstance(refreshed.parsed, TokenPair), refreshed.content
    assert refreshed.parsed.refresh_token != pair.refresh_token
    assert refreshed.parsed.session_id == pair.session_id
    unknown = v1_auth_refresh_create.sync_detailed(client=anonymous, body=RefreshRequest(refresh_token="x" * 43))
    assert unknown.status_code == 401 and unknown.parsed.error.code == ErrorCode.REFRESH_TOKEN_INVALID

    # /v1/users/me (the lean path) parses into the typed Me
    me_client = AuthenticatedClient(base_url=base, token=refreshed.parsed.access_token)
    me = v1_users_me_retrieve.sync_detailed(client=me_client)
    assert me.status_code == 200 and isinstance(me.parsed, Me), me.content
    assert me.parsed.username == "gen-client" and me.parsed.roles == [] and me.parsed.identities == []

    # a check-batch with the gateway's service key
    gateway = AuthenticatedClient(base_url=base, token=credential, prefix="ApiKey")
    batch = v1_authz_check_batch_create.sync_detailed(client=gateway, body=CheckBatchRequest(checks=[
        CheckRequest(subject="svc:clotho", tenant="platform", object_="/authz/check", action="check"),
        CheckRequest(subject=str(user_id), tenant="platform", object_="/users", action="read"),
    ]))
    assert batch.status_code == 200 and isinstance(batch.parsed, CheckBatchResult), batch.content
    assert batch.parsed.results == [True, False]
    # without a credential: the typed 401
    nobody = v1_authz_check_batch_create.sync_detailed(client=AuthenticatedClient(base_url=base, token=GARBAGE),
                                                       body=CheckBatchRequest(checks=[]))
    assert nobody.status_code == 401 and isinstance(nobody.parsed, Error)
