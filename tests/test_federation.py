"""Sign-in, bind and unbind with an external OpenID provider, against a real one: npm oidc-provider, started here
on 127.0.0.1 (tests/js/oidc_idp.mjs), its login form posted as a browser would. Forged ID
tokens come from a small stub provider (StubIdP) that signs whatever a test asks for."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pyotp
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from audit.models import Action, AuditEvent
from audit.services import Actor
from federation import providers
from federation.models import OAuthFlow, UserOAuth
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory
from tests.server import free_port

pytestmark = pytest.mark.django_db
JS_DIR = Path(__file__).parent / "js"
FRONT = "https://app.example.test/oauth/callback"
SECRET = "client-secret-for-tests"


class _JsonHandler(BaseHTTPRequestHandler):
    """The stub providers' HTTP: quiet, and JSON answers with a length."""

    content_type = "application/json"

    def log_message(self, *args):
        pass

    def _json(self, body, status=200):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class NodeIdP:
    """oidc-provider in a child process, with one confidential client that must use PKCE."""

    def __init__(self, client_id: str) -> None:
        assert shutil.which("node"), "node is required (make test installs tests/js)"
        assert (JS_DIR / "node_modules" / "oidc-provider").exists(), "run `npm ci --prefix tests/js` (make test does)"
        self.client_id = client_id
        port = free_port()
        clients = [{"client_id": client_id, "client_secret": SECRET, "redirect_uris": [FRONT]}]
        self.proc = subprocess.Popen(["node", str(JS_DIR / "oidc_idp.mjs"), str(port), json.dumps(clients)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line, "the OpenID provider did not start"
        self.issuer = json.loads(line)["issuer"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def sign_in(self, authorize_url: str, account: str) -> dict[str, str]:
        """A browser at the provider: follow the redirects, fill in the dev login form and the
        consent form, and stop at the redirect back to the front end: its query parameters."""
        s = requests.Session()
        url, method, data = authorize_url, "GET", None
        for _ in range(12):
            r = s.request(method, url, data=data, allow_redirects=False, timeout=10)
            if r.status_code in (302, 303):
                url, method, data = urljoin(url, r.headers["Location"]), "GET", None
                if url.startswith(FRONT):
                    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                continue
            assert r.status_code == 200, (r.status_code, r.text[:500])
            action = urljoin(url, re.search(r'<form[^>]*action="([^"]+)"', r.text).group(1))
            prompt = re.search(r'name="prompt" value="(\w+)"', r.text).group(1)
            data = {"prompt": prompt, "login": account, "password": "any"} if prompt == "login" else {"prompt": prompt}
            url, method = action, "POST"
        raise AssertionError("the provider never redirected back")


@pytest.fixture(scope="module")
def idp():
    p = NodeIdP("custos-a")
    yield p
    p.stop()


@pytest.fixture(scope="module")
def idp2():
    p = NodeIdP("custos-b")
    yield p
    p.stop()


@pytest.fixture
def front(settings):
    settings.CUSTOS_OAUTH_REDIRECT_URIS = [FRONT]
    return FRONT


@pytest.fixture
def provider(idp, front, signing_key):
    return providers.provider_add(name="acme", kind="oidc", client_id=idp.client_id, client_secret=SECRET,
                                 issuer=idp.issuer, display_name="Acme ID", trust_email=True,
                                 actor=Actor.system("test"))


@pytest.fixture
def provider2(idp2, front):
    return providers.provider_add(name="other", kind="oidc", client_id=idp2.client_id, client_secret=SECRET,
                                 issuer=idp2.issuer, actor=Actor.system("test"))


def start(api, name: str = "acme", **headers) -> dict:
    r = api.get(f"/v1/oauth/{name}/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json", **headers)
    assert r.status_code == 200, r.content
    return r.json()


def callback(api, name: str, body) -> object:
    return api.post(f"/v1/oauth/{name}/callback", body, format="json")


def full_flow(api, idp, account: str, name: str = "acme"):
    started = start(api, name)
    back = idp.sign_in(started["authorize_url"], account)
    assert back["state"] == started["state"] and back["iss"] == idp.issuer
    return callback(api, name, {"code": back["code"], "state": back["state"], "iss": back["iss"]})


def error_code(r) -> str:
    return r.json()["error"]["code"]


# ---- the happy path ------------------------------------------------------------------------------
def test_providers_list_is_public_and_only_enabled(api, provider, provider2):
    r = api.get("/v1/oauth/providers")
    assert r.status_code == 200
    assert r.json() == {"next": None, "results": [{"name": "acme", "display_name": "Acme ID"},
                                    {"name": "other", "display_name": "other"}]}
    providers.provider_set_enabled(name="other", enabled=False, actor=Actor.system("test"))
    assert [p["name"] for p in api.get("/v1/oauth/providers").json()["results"]] == ["acme"]
    r = api.get("/v1/oauth/other/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_login_redirects_to_the_provider_with_pkce_state_and_nonce(api, provider, idp):
    r = api.get("/v1/oauth/acme/login", {"redirect_uri": FRONT})
    assert r.status_code == 302 and r["Cache-Control"] == "no-store"
    url = urlsplit(r["Location"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == idp.issuer
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 32 and len(q["nonce"]) >= 32 and q["redirect_uri"] == FRONT
    assert q["client_id"] == "custos-a" and q["response_type"] == "code" and q["scope"] == "openid email profile"
    flow = OAuthFlow.objects.get()
    # the state is stored only as its digest; verifier and nonce only sealed
    assert q["state"] not in flow.state_hash and q["nonce"] not in flow.sealed and flow.provider == "acme"


def test_code_flow_creates_a_user_then_signs_the_same_user_in(api, provider, idp):
    r = full_flow(api, idp, "alice")
    assert r.status_code == 200, r.content
    pair = r.json()
    assert pair["token_type"] == "Bearer" and pair["access_token"] and pair["refresh_token"]
    assert r["Cache-Control"] == "no-store"
    link = UserOAuth.objects.get()
    user = link.user
    assert (link.provider, link.issuer, link.provider_uid) == ("acme", idp.issuer, "alice")
    assert user.email == "alice@idp.test" and user.email_verified_at is not None  # --trust-email
    assert user.username is None and not user.has_usable_password()
    assert user.profile.nickname == "Name of alice"
    assert link.access_token is None and link.refresh_token is None  # store_tokens is off
    me = api.get("/v1/users/me", **bearer(pair["access_token"])).json()
    assert [(i["provider"], i["provider_uid"]) for i in me["identities"]] == [("acme", "alice")]
    ids = api.get("/v1/users/me/identities", **bearer(pair["access_token"])).json()["results"]
    assert [(i["provider"], i["provider_uid"]) for i in ids] == [("acme", "alice")]
    # again: the same user, no second account
    r = full_flow(api, idp, "alice")
    assert r.status_code == 200 and r.json()["user"]["id"] == user.pk == pair["user"]["id"]
    assert UserOAuth.objects.count() == 1
    logins = AuditEvent.objects.filter(action=Action.LOGIN_SUCCEEDED, subject_user_id=user.pk)
    assert logins.count() == 2 and {e.metadata["method"] for e in logins} == {"oauth:acme"}
    assert AuditEvent.objects.filter(action=Action.IDENTITY_BOUND, subject_user_id=user.pk).count() == 1
    assert not OAuthFlow.objects.exists()  # each state was spent


def test_without_trust_email_the_address_stays_unverified(api, provider, idp):
    provider.trust_email = False
    provider.save()
    r = full_flow(api, idp, "bob")
    assert r.status_code == 200, r.content
    user = UserOAuth.objects.get().user
    assert user.email == "bob@idp.test" and user.email_verified_at is None


def test_an_unverified_or_missing_email_is_not_taken(api, provider, idp):
    r = full_flow(api, idp, "unverified-carol")
    assert r.status_code == 200, r.content
    carol = UserOAuth.objects.get(provider_uid="unverified-carol").user
    assert carol.email is None and carol.username is None and carol.phone is None
    me = api.get("/v1/users/me", **bearer(r.json()["access_token"]))  # an account with no identifier is whole
    assert me.status_code == 200 and me.json()["username"] is None, me.content
    assert [i["provider_uid"] for i in me.json()["identities"]] == ["unverified-carol"]
    r = full_flow(api, idp, "noemail-dave")
    assert r.status_code == 200, r.content
    assert UserOAuth.objects.get(provider_uid="noemail-dave").user.email is None


def test_mfa_challenge_after_an_external_sign_in(api, provider, idp):
    from accounts.security import mfa

    r = full_flow(api, idp, "erin")
    user = UserOAuth.objects.get().user
    secret = mfa.totp_setup(user=user)["secret"]
    mfa.totp_confirm(user=user, code=pyotp.TOTP(secret).now())
    r = full_flow(api, idp, "erin")
    assert r.status_code == 200, r.content
    challenge = r.json()
    assert challenge["mfa_required"] is True and "totp" in challenge["methods"] and "access_token" not in challenge
    # the step the enrolment used is spent; the next one is within the device's tolerance
    code = pyotp.TOTP(secret).at(time.time() + 30)
    r = api.post("/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": code}, format="json")
    assert r.status_code == 200, r.content
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert "fed" in claims["amr"] and "mfa" in claims["amr"]


# ---- refusals: the state ---------------------------------------------------------------------------
def test_a_replayed_state_is_refused(api, provider, idp):
    started = start(api)
    back = idp.sign_in(started["authorize_url"], "frank")
    assert callback(api, "acme", {"code": back["code"], "state": back["state"]}).status_code == 200
    r = callback(api, "acme", {"code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    failed = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert failed.metadata["method"] == "oauth:acme" and failed.metadata["reason"] == "oauth_state_invalid"
    assert back["code"] not in json.dumps(failed.metadata)


def test_an_altered_state_is_refused_and_spends_nothing(api, provider, idp):
    started = start(api)
    back = idp.sign_in(started["authorize_url"], "grace")
    altered = back["state"][:-1] + ("A" if back["state"][-1] != "A" else "B")
    r = callback(api, "acme", {"code": back["code"], "state": altered})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    assert callback(api, "acme", {"code": back["code"], "state": back["state"]}).status_code == 200


def test_a_state_is_bound_to_its_provider(api, provider, provider2, idp):
    started = start(api, "acme")
    back = idp.sign_in(started["authorize_url"], "heidi")
    r = callback(api, "other", {"code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    # and it is spent: a state serves one callback, whatever its outcome
    r = callback(api, "acme", {"code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"


def test_a_code_from_another_provider_under_this_state_fails(api, provider, provider2, idp, idp2):
    mine = start(api, "acme")
    theirs = start(api, "other")
    code_b = idp2.sign_in(theirs["authorize_url"], "ivan")["code"]
    r = callback(api, "acme", {"code": code_b, "state": mine["state"]})
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    assert not UserOAuth.objects.exists()


def test_a_state_started_with_a_bearer_serves_no_anonymous_callback(api, provider, idp):
    user = UserFactory()
    token = login(api, user.username)["access_token"]
    started = start(api, "acme", **bearer(token))
    assert OAuthFlow.objects.get().user_id == user.pk
    back = idp.sign_in(started["authorize_url"], "judy")
    r = callback(api, "acme", {"code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"


def test_an_expired_state_is_refused(api, provider, idp, settings):
    from datetime import timedelta

    from django.utils import timezone

    started = start(api)
    back = idp.sign_in(started["authorize_url"], "ken")
    OAuthFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    r = callback(api, "acme", {"code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"


def test_rfc9207_iss_of_another_issuer_is_refused(api, provider, idp):
    started = start(api)
    back = idp.sign_in(started["authorize_url"], "leo")
    r = callback(api, "acme", {"code": back["code"], "state": back["state"], "iss": "https://evil.example"})
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


def test_redirect_uri_off_the_allowlist_is_refused(api, provider):
    for uri in ("https://evil.example/cb", FRONT + "/", FRONT + "?x=1", FRONT.upper()):
        r = api.get("/v1/oauth/acme/login", {"redirect_uri": uri}, HTTP_ACCEPT="application/json")
        assert r.status_code == 400 and error_code(r) == "validation_error", uri
        assert "redirect_uri" in r.json()["error"]["fields"]
    assert not OAuthFlow.objects.exists()


def test_a_verified_email_of_a_local_account_is_never_linked(api, provider, idp):
    local = UserFactory(username="mallory", email="mallory@idp.test")
    r = full_flow(api, idp, "mallory")
    assert r.status_code == 409 and error_code(r) == "account_exists"
    assert AuditEvent.objects.get(action=Action.LOGIN_FAILED).metadata["reason"] == "account_exists"
    assert not UserOAuth.objects.exists()
    local.refresh_from_db()
    assert local.has_usable_password() and local.status == "active"


# ---- refusals: forged ID tokens (a stub provider signs them) ----------------------------------------
class StubIdP:
    """Discovery, JWKS and a token endpoint answering with whatever ID token `self.mode` asks."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.mode = "good"
        self.nonce = ""
        self.sub = "stub-user"
        stub = self

        class Handler(_JsonHandler):

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    self._json({"issuer": stub.issuer, "authorization_endpoint": f"{stub.issuer}/auth",
                                "token_endpoint": f"{stub.issuer}/token", "jwks_uri": f"{stub.issuer}/jwks",
                                "code_challenge_methods_supported": ["S256"],
                                "token_endpoint_auth_methods_supported": ["client_secret_basic"]})
                elif self.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(stub.key.public_key()))
                    self._json({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._json({"access_token": "stub-access-token", "token_type": "Bearer",
                            "id_token": stub.id_token()})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def id_token(self) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.sub, "aud": "stub-client", "iat": now, "exp": now + 300,
                  "nonce": self.nonce}
        headers = {"kid": "k1"}
        key: object = self.key
        alg = "RS256"
        if self.mode == "wrong_aud":
            claims["aud"] = "someone-else"
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.mode == "no_nonce":
            del claims["nonce"]
        elif self.mode == "wrong_iss":
            claims["iss"] = "https://evil.example"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif self.mode == "wrong_azp":
            claims["aud"], claims["azp"] = ["stub-client", "other"], "other"
        elif self.mode == "unknown_kid":
            headers["kid"] = "k2"
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif self.mode == "hs256":
            alg, key = "HS256", SECRET
        elif self.mode == "none":
            head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).rstrip(b"=")
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
            return f"{head.decode()}.{body.decode()}."
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def stub():
    s = StubIdP()
    yield s
    s.stop()


@pytest.fixture
def stub_provider(stub, front, signing_key):
    return providers.provider_add(name="stub", kind="oidc", client_id="stub-client", client_secret=SECRET,
                                 issuer=stub.issuer, actor=Actor.system("test"))


def _stub_callback(api, stub, mode: str):
    started = start(api, "stub")
    stub.nonce = parse_qs(urlsplit(started["authorize_url"]).query)["nonce"][0]
    stub.mode = mode
    return callback(api, "stub", {"code": "any-code", "state": started["state"]})


def test_the_stub_itself_is_accepted_when_honest(api, stub, stub_provider):
    r = _stub_callback(api, stub, "good")
    assert r.status_code == 200, r.content
    assert UserOAuth.objects.get().provider_uid == "stub-user"


def test_subjects_differing_in_case_are_two_identities(api, stub, stub_provider):
    first = _stub_callback(api, stub, "good")
    stub.sub = "STUB-USER"
    try:
        second = _stub_callback(api, stub, "good")
    finally:
        stub.sub = "stub-user"
    assert first.status_code == second.status_code == 200, second.content
    assert first.json()["user"]["id"] != second.json()["user"]["id"]
    assert sorted(UserOAuth.objects.values_list("provider_uid", flat=True)) == ["STUB-USER", "stub-user"]


@pytest.mark.parametrize("mode", ["wrong_aud", "wrong_nonce", "no_nonce", "none", "hs256", "wrong_iss",
                                  "expired", "wrong_azp", "unknown_kid"])
def test_a_forged_or_wrong_id_token_fails(api, stub, stub_provider, mode):
    r = _stub_callback(api, stub, mode)
    assert r.status_code == 401 and error_code(r) == "oauth_failed", (mode, r.content)
    assert not UserOAuth.objects.exists()
    assert AuditEvent.objects.get(action=Action.LOGIN_FAILED).metadata["reason"] == "oauth_failed"


# ---- bad input: a 400 (or 404) envelope, never a 500 -------------------------------------------------
@pytest.mark.parametrize("body", [
    [], "text", 7, None, {}, {"code": "c"}, {"state": "s"}, {"code": 1, "state": "s"}, {"code": "c", "state": []},
    {"code": "", "state": "s"}, {"code": "c", "state": "s" * 300}, {"code": "c" * 3000, "state": "s"},
    {"code": "c", "state": "s", "iss": 5}, {"code": "c", "state": "\u0000\ud800"},
])
def test_bad_callback_bodies_are_400(api, provider, body):
    r = api.post("/v1/oauth/acme/callback", json.dumps(body), content_type="application/json")
    assert r.status_code == 400, (body, r.content)
    assert r.json()["error"]["code"] in ("validation_error", "oauth_state_invalid", "bad_request")


def test_bad_login_and_callback_requests(api, provider):
    for params in ({}, {"redirect_uri": ""}, {"redirect_uri": "x" * 600}):
        r = api.get("/v1/oauth/acme/login", params, HTTP_ACCEPT="application/json")
        assert r.status_code == 400 and error_code(r) == "validation_error"
    for name in ("nope", "UPPER", "a" * 70, "%00"):
        r = api.get(f"/v1/oauth/{name}/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
        assert r.status_code == 404, name
        r = api.post(f"/v1/oauth/{name}/callback", {"code": "c", "state": "s"}, format="json")
        assert r.status_code == 404, name
    r = api.post("/v1/oauth/acme/callback", "not json", content_type="application/json")
    assert r.status_code == 400
    r = api.post("/v1/oauth/acme/callback", {"code": "c", "state": "s"}, format="multipart")
    assert r.status_code in (400, 415)
    r = api.get("/v1/users/me/identities")
    assert r.status_code == 401


def test_an_unreachable_provider_is_503_not_500(api, front, signing_key):
    providers.provider_add(name="down", kind="oidc", client_id="c", client_secret=SECRET,
                          issuer=f"http://127.0.0.1:{free_port()}", actor=Actor.system("test"))
    r = api.get("/v1/oauth/down/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
    assert r.status_code == 503 and error_code(r) == "service_unavailable"


def test_a_frozen_account_is_refused_and_audited(api, provider, idp):
    assert full_flow(api, idp, "sam").status_code == 200
    user = UserOAuth.objects.get().user
    user.status = "frozen"
    user.save(update_fields=["status"])
    r = full_flow(api, idp, "sam")
    assert r.status_code == 403 and error_code(r) == "account_disabled"
    failed = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert failed.subject_user_id == user.pk and failed.metadata["reason"] == "account_disabled"


def test_an_unreadable_client_secret_is_503_not_500(api, provider):
    provider.client_secret_sealed = "not-a-fernet-token"
    provider.save()
    r = api.get("/v1/oauth/acme/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
    assert r.status_code == 503 and error_code(r) == "service_unavailable"


# ---- bind and unbind ------------------------------------------------------------------------------
def bind(api, idp, token: str, account: str, name: str = "acme"):
    started = start(api, name, **bearer(token))
    back = idp.sign_in(started["authorize_url"], account)
    return api.post(f"/v1/oauth/{name}/bind", {"code": back["code"], "state": back["state"]}, format="json",
                    **bearer(token))


def reauth(api, token: str) -> dict[str, str]:
    r = api.post("/v1/auth/reauth", {"password": PASSWORD}, format="json", **bearer(token))
    assert r.status_code == 200, r.content
    return {"HTTP_X_REAUTH_TOKEN": r.json()["reauth_token"]}


def test_bind_then_sign_in_with_the_provider_as_that_user(api, provider, idp):
    user = UserFactory()
    token = login(api, user.username)["access_token"]
    r = bind(api, idp, token, "nina")
    assert r.status_code == 201, r.content
    assert r.json()["provider"] == "acme" and r.json()["provider_uid"] == "nina"
    assert AuditEvent.objects.filter(action=Action.IDENTITY_BOUND, subject_user_id=user.pk).count() == 1
    r = full_flow(api, idp, "nina")
    assert r.status_code == 200 and r.json()["user"]["id"] == user.pk
    ids = api.get("/v1/users/me/identities", **bearer(token)).json()["results"]
    assert [(i["provider"], i["provider_uid"]) for i in ids] == [("acme", "nina")]
    # binding it again changes nothing
    assert bind(api, idp, token, "nina").status_code == 201 and UserOAuth.objects.count() == 1


def test_an_identity_of_another_account_is_409(api, provider, idp):
    assert full_flow(api, idp, "oscar").status_code == 200  # oscar's own account
    user = UserFactory()
    token = login(api, user.username)["access_token"]
    r = bind(api, idp, token, "oscar")
    assert r.status_code == 409 and error_code(r) == "identity_already_bound"
    assert UserOAuth.objects.get().user_id != user.pk


def test_bind_needs_a_state_started_by_the_same_user(api, provider, idp):
    alice, bob = UserFactory(), UserFactory()
    ta, tb = login(api, alice.username)["access_token"], login(api, bob.username)["access_token"]
    # a state started anonymously
    started = start(api)
    back = idp.sign_in(started["authorize_url"], "pat")
    r = api.post("/v1/oauth/acme/bind", {"code": back["code"], "state": back["state"]}, format="json", **bearer(ta))
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    # a state started by alice, presented by bob
    started = start(api, **bearer(ta))
    back = idp.sign_in(started["authorize_url"], "pat")
    r = api.post("/v1/oauth/acme/bind", {"code": back["code"], "state": back["state"]}, format="json", **bearer(tb))
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    assert not UserOAuth.objects.exists()


def test_bind_needs_a_bearer_and_good_input(api, provider):
    r = api.post("/v1/oauth/acme/bind", {"code": "c", "state": "s"}, format="json")
    assert r.status_code == 401
    token = login(api, UserFactory().username)["access_token"]
    for body in ({}, {"code": 1, "state": "s"}, {"code": "c", "state": "s" * 300}, []):
        r = api.post("/v1/oauth/acme/bind", body, format="json", **bearer(token))
        assert r.status_code == 400, body
    r = api.post("/v1/oauth/nope/bind", {"code": "c", "state": "s"}, format="json", **bearer(token))
    assert r.status_code == 404


def test_unbind_needs_reauth_and_is_audited(api, provider, idp):
    user = UserFactory()
    token = login(api, user.username)["access_token"]
    assert bind(api, idp, token, "quinn").status_code == 201
    r = api.delete("/v1/oauth/acme/bind", **bearer(token))
    assert r.status_code == 403 and error_code(r) == "reauth_required"
    r = api.delete("/v1/oauth/acme/bind", **bearer(token), **reauth(api, token))
    assert r.status_code == 204
    assert not UserOAuth.objects.exists()
    assert AuditEvent.objects.filter(action=Action.IDENTITY_UNBOUND, subject_user_id=user.pk).count() == 1
    r = api.delete("/v1/oauth/acme/bind", **bearer(token), **reauth(api, token))
    assert r.status_code == 404


def test_the_last_way_to_sign_in_cannot_be_unbound(api, provider, idp):
    from accounts.services import reauth_token_issue

    r = full_flow(api, idp, "noemail-rita")  # no password, no address: the identity is all
    assert r.status_code == 200
    pair = r.json()
    token = pair["access_token"]
    header = {"HTTP_X_REAUTH_TOKEN": reauth_token_issue(user_id=pair["user"]["id"], session_id=pair["session_id"],
                                                         method="totp")}
    r = api.delete("/v1/oauth/acme/bind", **bearer(token), **header)
    assert r.status_code == 409 and error_code(r) == "last_login_method"
    assert UserOAuth.objects.count() == 1


def test_a_discovery_document_naming_another_issuer_is_refused(api, stub, front, signing_key):
    from django.core.management import CommandError, call_command

    port = urlsplit(stub.issuer).port
    providers.provider_add(name="mixup", kind="oidc", client_id="stub-client", client_secret=SECRET,
                          issuer=f"http://localhost:{port}", actor=Actor.system("test"))  # it says 127.0.0.1
    r = api.get("/v1/oauth/mixup/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
    assert r.status_code == 503 and not OAuthFlow.objects.exists()
    with pytest.raises(CommandError, match="Discovery names the issuer"):
        call_command("oauth_provider", "test", "mixup")


def test_logins_are_limited_per_client_ip(api, provider, settings):
    settings.CUSTOS_OAUTH_LOGINS_PER_IP_PER_HOUR = 3
    for _ in range(3):
        start(api)
    r = api.get("/v1/oauth/acme/login", {"redirect_uri": FRONT}, HTTP_ACCEPT="application/json")
    assert r.status_code == 429 and error_code(r) == "rate_limited" and int(r["Retry-After"]) > 0
    assert OAuthFlow.objects.count() == 3


# ---- GitHub: social-core's backend against recorded answers (docs.github.com) ----------------------
GH_TOKEN = "gho_16C7e42F292c6912E7710c838347Ae178B4a"  # the docs' example token
GH_USER = {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False,
           "name": "monalisa octocat", "company": "GitHub", "blog": "https://github.com/blog",
           "location": "San Francisco", "email": None, "hireable": False, "public_repos": 2,
           "followers": 20, "following": 0, "created_at": "2008-01-14T04:33:35Z",
           "updated_at": "2008-01-14T04:33:35Z"}
GH_EMAILS = [{"email": "octocat@github.com", "verified": True, "primary": True, "visibility": "public"},
             {"email": "octo@other.example", "verified": True, "primary": False, "visibility": None}]


class GithubStub:
    """A GitHub Enterprise Server's paths (login/oauth/*, api/v3/*) answering as GitHub documents."""

    def __init__(self) -> None:
        self.emails = GH_EMAILS
        self.user = GH_USER
        self.requests: list[tuple[str, str, dict, str]] = []
        stub = self

        class Handler(_JsonHandler):
            content_type = "application/json; charset=utf-8"  # as GitHub sends it

            def do_GET(self):
                stub.requests.append(("GET", self.path, dict(self.headers), ""))
                auth = self.headers.get("Authorization")
                if self.path == "/api/v3/":
                    self._json({"current_user_url": f"{stub.base}/api/v3/user"})
                elif auth != f"token {GH_TOKEN}":
                    self._json({"message": "Requires authentication"}, 401)
                elif self.path == "/api/v3/user":
                    self._json(stub.user)
                elif self.path == "/api/v3/user/emails":
                    self._json(stub.emails)
                else:
                    self._json({"message": "Not Found"}, 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                stub.requests.append(("POST", self.path, dict(self.headers), body))
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if self.path != "/login/oauth/access_token":
                    self._json({"message": "Not Found"}, 404)
                elif form.get("code") != "good-code":  # GitHub answers a bad code with 200 and an error
                    self._json({"error": "bad_verification_code",
                                "error_description": "The code passed is incorrect or expired.",
                                "error_uri": "https://docs.github.com/apps/troubleshooting"})
                else:
                    self._json({"access_token": GH_TOKEN, "scope": "read:user,user:email", "token_type": "bearer"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def github_stub():
    s = GithubStub()
    yield s
    s.stop()


@pytest.fixture
def github(github_stub, front, signing_key):
    github_stub.emails, github_stub.user, github_stub.requests[:] = GH_EMAILS, GH_USER, []
    return providers.provider_add(name="gh", kind="github", client_id="Iv1.8a61f9b3a7aba766",
                                 client_secret=SECRET, issuer=github_stub.base, trust_email=True,
                                 actor=Actor.system("test"))


def _github_callback(api, code: str = "good-code"):
    started = start(api, "gh")
    return started, callback(api, "gh", {"code": code, "state": started["state"]})


def test_github_sign_in_takes_the_verified_primary_email(api, github, github_stub):
    started, r = _github_callback(api)
    assert r.status_code == 200, r.content
    q = {k: v[0] for k, v in parse_qs(urlsplit(started["authorize_url"]).query).items()}
    assert started["authorize_url"].startswith(f"{github_stub.base}/login/oauth/authorize?")
    assert q["client_id"] == "Iv1.8a61f9b3a7aba766" and q["scope"] == "read:user,user:email" and q["state"]
    token_call = next(x for x in github_stub.requests if x[0] == "POST")
    assert "code=good-code" in token_call[3] and "client_id=Iv1.8a61f9b3a7aba766" in token_call[3]
    link = UserOAuth.objects.get()
    assert (link.provider, link.issuer, link.provider_uid) == ("gh", github_stub.base, "1")
    assert link.user.email == "octocat@github.com" and link.user.email_verified_at is not None
    assert link.user.profile.nickname == "monalisa octocat"
    again = _github_callback(api)[1]
    assert again.status_code == 200 and again.json()["user"]["id"] == link.user_id
    assert GH_TOKEN not in json.dumps(list(AuditEvent.objects.values_list("metadata", flat=True)))


def test_github_an_unverified_primary_email_is_not_taken(api, github, github_stub):
    github_stub.emails = [{"email": "octocat@github.com", "verified": False, "primary": True, "visibility": None},
                          {"email": "octo@other.example", "verified": True, "primary": False, "visibility": None}]
    r = _github_callback(api)[1]
    assert r.status_code == 200, r.content
    user = UserOAuth.objects.get().user
    assert user.email is None and user.username is None


def test_github_refusals(api, github, github_stub):
    r = _github_callback(api, code="bad-code")[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    started, r = _github_callback(api)
    assert r.status_code == 200
    r = callback(api, "gh", {"code": "good-code", "state": started["state"]})  # replayed
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    github_stub.user = {"login": "ghost"}  # no numeric id: not an identity
    r = _github_callback(api)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


def test_github_account_exists_and_test_command(api, github, github_stub):
    from django.core.management import call_command

    UserFactory(username="octo", email="octocat@github.com")
    r = _github_callback(api)[1]
    assert r.status_code == 409 and error_code(r) == "account_exists"
    from io import StringIO

    out = StringIO()
    call_command("oauth_provider", "test", "gh", stdout=out)
    assert f"api ok: {github_stub.base}/api/v3/" in out.getvalue() and "gh ok" in out.getvalue()


def test_a_malformed_token_answer_is_401_not_500(api, stub, stub_provider, monkeypatch):
    monkeypatch.setattr(StubIdP, "id_token", lambda self: {"not": "a string"})
    r = _stub_callback(api, stub, "good")
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


def test_a_long_provider_name_is_recorded_whole_in_the_login_history(api, idp, front, signing_key):
    """login_history.method holds oauth:<name> for the longest name the command accepts (64)."""
    from accounts.models import LoginEvent

    name = "a" + "-long-provider-name" * 3 + "x" * 6
    assert len(name) == 64
    providers.provider_add(name=name, kind="oidc", client_id=idp.client_id, client_secret=SECRET,
                           issuer=idp.issuer, actor=Actor.system("test"))
    r = full_flow(api, idp, "longname-user", name=name)
    assert r.status_code == 200, r.content
    assert LoginEvent.objects.get().method == f"oauth:{name}"
