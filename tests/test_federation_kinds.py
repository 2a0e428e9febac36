"""The provider kinds google, apple and wechat, each through social-core's real HTTP code against a
local stub (127.0.0.1, a free port) serving answers recorded from the provider's documentation
(tests/fixtures/federation/*.json); --store-tokens; refused callbacks on the sign-in flow's
per-IP limits and login history; re-authentication through a provider (POST /v1/oauth/{p}/reauth)."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from http.server import ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import CommandError, call_command

from accounts.security import risk
from audit.models import Action, AuditEvent
from audit.services import Actor
from custos.crypto import unseal
from federation import providers
from federation.models import OAuthFlow, OAuthProvider, UserOAuth
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory
from tests.test_federation import FRONT, _JsonHandler, callback, error_code, start

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures" / "federation"
OTHER_FRONT = "https://other-app.example.test/oauth/callback"


def recorded(name: str) -> dict:
    data = json.loads((FIXTURES / name).read_text())
    data.pop("_source", None)
    return data


def q(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def everything_said(api_responses, caplog) -> str:
    """Every place a secret must never reach: responses, log lines, audit events."""
    audit = json.dumps(list(AuditEvent.objects.values_list("metadata", flat=True)), ensure_ascii=False)
    return "\n".join([*(r.content.decode() for r in api_responses), caplog.text, audit])


class RecordedStub:
    """A provider on 127.0.0.1: `route(method, path, query, form, headers)` answers each request
    with (status, JSON); every request is kept in `requests` for the tests to inspect."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        stub = self

        class Handler(_JsonHandler):
            def _answer(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                parts = urlsplit(self.path)
                req = {"method": method, "path": parts.path, "headers": dict(self.headers),
                       "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                       "form": {k: v[0] for k, v in parse_qs(body).items()}}
                stub.requests.append(req)
                status, answer = stub.route(req)
                self._json(answer, status)

            def do_GET(self):  # noqa: N802  (http.server's name)
                self._answer("GET")

            def do_POST(self):  # noqa: N802
                self._answer("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, req: dict) -> tuple[int, object]:
        raise NotImplementedError

    def stop(self) -> None:
        self.server.shutdown()

    def calls(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


def _rsa_jwks(key, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def _at_hash(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16]).rstrip(b"=").decode()


# ---- Google ------------------------------------------------------------------------------------------
GOOGLE_CLIENT = "1234987819200.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-Wq3m6j0pL3oQx0xJr2gkU0Wq"


class GoogleStub(RecordedStub):
    """Google's discovery document, token endpoint (client_secret_basic, PKCE S256 checked),
    userinfo and JWKS, as Google documents them, with an RS256 ID token signed here."""

    def __init__(self) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.reset()

    def reset(self) -> None:
        self.requests[:] = []
        self.challenge = ""  # the authorize URL's code_challenge, which the verifier must match
        self.nonce = ""
        self.iss = self.base
        self.claims = recorded("google_id_token_claims.json")
        self.auth_time: int | None = None  # sent when the authorize request asked max_age, as Google does

    def route(self, req):
        if req["path"] == "/.well-known/openid-configuration":
            doc = json.dumps(recorded("google_discovery.json"))
            return 200, json.loads(doc.replace("{issuer}", self.base).replace("{base}", self.base))
        if req["path"] == "/oauth2/v3/certs":
            return 200, _rsa_jwks(self.key, "g1")
        if req["path"] == "/token" and req["method"] == "POST":
            form = req["form"]
            basic = base64.b64encode(f"{GOOGLE_CLIENT}:{GOOGLE_SECRET}".encode()).decode()
            if req["headers"].get("Authorization") != f"Basic {basic}":
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if form.get("code") != "google-code" or digest != self.challenge or form.get("redirect_uri") != FRONT:
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            answer = recorded("google_token.json")
            now = int(time.time())
            claims = {**self.claims, "iss": self.iss, "iat": now, "exp": now + 3600, "nonce": self.nonce,
                      "at_hash": _at_hash(answer["access_token"])}
            if self.auth_time is not None:
                claims["auth_time"] = self.auth_time
            answer["id_token"] = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "g1"})
            return 200, answer
        if req["path"] == "/v1/userinfo":
            if req["headers"].get("Authorization") != f"Bearer {recorded('google_token.json')['access_token']}":
                return 401, {"error": "invalid_request"}
            return 200, recorded("google_userinfo.json")
        return 404, {"error": "not_found"}


@pytest.fixture(scope="module")
def google_stub():
    s = GoogleStub()
    yield s
    s.stop()


@pytest.fixture
def front(settings):
    settings.CUSTOS_OAUTH_REDIRECT_URIS = [FRONT, OTHER_FRONT]
    return FRONT


@pytest.fixture
def google(google_stub, front, signing_key):
    google_stub.reset()
    return providers.provider_add(name="google", kind="google", client_id=GOOGLE_CLIENT, client_secret=GOOGLE_SECRET,
                                 issuer=google_stub.base, trust_email=True, actor=Actor.system("test"))


def google_flow(api, stub, *, path: str = "callback", name: str = "google", headers: dict | None = None,
                code: str = "google-code", **body):
    if path == "reauth":  # a re-authentication starts as one: the provider is asked for a fresh sign-in
        r = api.get(f"/v1/oauth/{name}/login", {"redirect_uri": FRONT, "purpose": "reauth"},
                    HTTP_ACCEPT="application/json", **(headers or {}))
        assert r.status_code == 200, r.content
        started = r.json()
        if stub.auth_time is None:
            stub.auth_time = int(time.time())  # the user signed in again at Google just now
    else:
        started = start(api, name, **(headers or {}))
    params = q(started["authorize_url"])
    stub.challenge, stub.nonce = params["code_challenge"], params["nonce"]
    r = api.post(f"/v1/oauth/{name}/{path}", {"code": code, "state": started["state"], **body}, format="json",
                 **(headers or {}))
    return started, r


def test_google_sign_in_runs_the_backend_against_googles_recorded_answers(api, google, google_stub, caplog):
    caplog.set_level(logging.DEBUG)
    started, r = google_flow(api, google_stub)
    assert r.status_code == 200, r.content
    params = q(started["authorize_url"])
    assert started["authorize_url"].startswith(f"{google_stub.base}/o/oauth2/v2/auth?")
    assert params["client_id"] == GOOGLE_CLIENT and params["code_challenge_method"] == "S256"
    assert params["scope"] == "openid email profile" and params["redirect_uri"] == FRONT
    # the token request carried the PKCE verifier (the stub refuses a wrong one) and basic auth;
    # userinfo was read with the access token as a Bearer header, not in the URL
    assert len(google_stub.calls("/token")) == 1
    (info,) = google_stub.calls("/v1/userinfo")
    assert not info["query"]
    link = UserOAuth.objects.get()
    assert (link.provider, link.issuer, link.provider_uid) == ("google", google_stub.base,
                                                               "10769150350006150715113082367")
    assert link.user.email == "jsmith@example.com" and link.user.email_verified_at is not None
    assert link.user.profile.nickname == "John Smith"
    assert link.access_token is None and link.refresh_token is None  # store_tokens off: nothing kept
    said = everything_said([r], caplog)
    for secret in (GOOGLE_SECRET, "google-code", recorded("google_token.json")["access_token"],
                   recorded("google_token.json")["refresh_token"]):
        assert secret not in said


def test_google_issuer_without_https_is_the_same_identity(api, google, google_stub):
    """Google documents `iss` as https://accounts.google.com or accounts.google.com: both are
    Google, and one account whichever a token carries; any other issuer is refused."""
    first = google_flow(api, google_stub)[1]
    google_stub.iss = google_stub.base.split("://", 1)[1]  # "127.0.0.1:port", as "accounts.google.com"
    second = google_flow(api, google_stub)[1]
    assert first.status_code == second.status_code == 200, second.content
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert UserOAuth.objects.get().issuer == google_stub.base
    google_stub.iss = "https://accounts.google.com.evil.example"
    r = google_flow(api, google_stub)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


def test_google_hd_is_not_required_and_pkce_is_enforced(api, google, google_stub):
    google_stub.claims = {k: v for k, v in google_stub.claims.items() if k != "hd"}
    r = google_flow(api, google_stub)[1]
    assert r.status_code == 200, r.content
    started = start(api, "google")
    google_stub.challenge = "not-the-challenge-of-this-flow"  # the verifier sent will not match it
    google_stub.nonce = q(started["authorize_url"])["nonce"]
    r = callback(api, "google", {"code": "google-code", "state": started["state"]})
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


# ---- Apple -----------------------------------------------------------------------------------------------
APPLE_CLIENT = "com.example.fly.web"
TEAM, KEY_ID = "A1B2C3D4E5", "KEY123ABCD"


class AppleStub(RecordedStub):
    """Apple's /auth/keys, and /auth/token checking the client-secret JWT as Apple does (ES256,
    kid, iss = team, sub = client, aud = Apple) before answering with a signed identity token."""

    def __init__(self, client_key: ec.EllipticCurvePrivateKey) -> None:
        super().__init__()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_public = client_key.public_key()
        self.reset()

    def reset(self) -> None:
        self.requests[:] = []
        self.nonce = ""
        self.claims = recorded("apple_id_token_claims.json")
        self.overrides: dict = {}
        self.secret_claims: dict = {}

    def route(self, req):
        if req["path"] == "/auth/keys":
            return 200, _rsa_jwks(self.key, "W6WcOKB")
        if req["path"] == "/auth/token" and req["method"] == "POST":
            form = req["form"]
            try:
                secret = form.get("client_secret", "")
                self.secret_claims = jwt.decode(secret, self.client_public, algorithms=["ES256"], audience=self.base,
                                                issuer=TEAM, options={"require": ["exp", "iat", "sub"]})
                self.secret_header = jwt.get_unverified_header(secret)
            except jwt.PyJWTError:
                return 400, {"error": "invalid_client"}
            if (self.secret_claims["sub"] != APPLE_CLIENT or form.get("client_id") != APPLE_CLIENT
                    or self.secret_header.get("kid") != KEY_ID):
                return 400, {"error": "invalid_client"}
            if form.get("code") != "apple-code" or form.get("grant_type") != "authorization_code":
                return 400, {"error": "invalid_grant"}
            now = int(time.time())
            claims = {**self.claims, "iss": self.base, "aud": APPLE_CLIENT, "iat": now, "exp": now + 600,
                      "nonce": self.nonce, **self.overrides}
            return 200, {**recorded("apple_token.json"),
                         "id_token": jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "W6WcOKB"})}
        return 404, {"error": "not_found"}


@pytest.fixture(scope="module")
def apple_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def apple_pem(apple_key) -> str:
    return apple_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def apple_stub(apple_key):
    s = AppleStub(apple_key)
    yield s
    s.stop()


@pytest.fixture
def apple(apple_stub, apple_pem, tmp_path, front, signing_key):
    apple_stub.reset()
    key_file = tmp_path / "AuthKey_KEY123ABCD.p8"
    key_file.write_text(apple_pem)
    out = StringIO()
    call_command("oauth_provider", "add", "apple", "--kind", "apple", "--client-id", APPLE_CLIENT, "--team-id", TEAM,
                 "--key-id", KEY_ID, "--private-key-file", str(key_file), "--issuer", apple_stub.base,
                 "--trust-email", stdout=out)
    assert apple_pem not in out.getvalue()
    return OAuthProvider.objects.get(name="apple")


def apple_flow(api, stub, *, code: str = "apple-code", **body):
    started = start(api, "apple")
    stub.nonce = q(started["authorize_url"])["nonce"]
    return started, callback(api, "apple", {"code": code, "state": started["state"], **body})


def test_apple_add_seals_the_key_and_test_signs_and_reaches_the_jwks(apple, apple_pem, apple_stub):
    assert apple.team_id == TEAM and apple.key_id == KEY_ID and apple.scopes == "name email"
    assert "PRIVATE KEY" not in apple.client_secret_sealed and unseal(apple.client_secret_sealed) == apple_pem
    out = StringIO()
    call_command("oauth_provider", "list", stdout=out)
    assert out.getvalue().startswith("apple\tapple\tenabled") and "PRIVATE" not in out.getvalue()
    out = StringIO()
    call_command("oauth_provider", "test", "apple", stdout=out)
    text = out.getvalue()
    assert f"client secret ok: ES256, kid {KEY_ID}, team {TEAM}, valid 300 s" in text
    assert f"jwks ok: 1 signing key(s) at {apple_stub.base}/auth/keys" in text and text.strip().endswith("apple ok")
    added = AuditEvent.objects.get(action=Action.IDENTITY_PROVIDER_CHANGED)
    assert added.metadata["kind"] == "apple" and "PRIVATE" not in json.dumps(added.metadata)


def test_apple_sign_in_form_post_first_name_private_relay(api, apple, apple_stub, apple_pem, caplog):
    caplog.set_level(logging.DEBUG)
    user_json = json.dumps(recorded("apple_user.json"))  # form_post sends it as a JSON string
    started, r = apple_flow(api, apple_stub, user=user_json)
    assert r.status_code == 200, r.content
    params = q(started["authorize_url"])
    assert started["authorize_url"].startswith(f"{apple_stub.base}/auth/authorize?")
    assert params["response_mode"] == "form_post" and params["response_type"] == "code"
    assert params["client_id"] == APPLE_CLIENT and params["scope"] == "name email" and len(params["nonce"]) >= 32
    assert "code_challenge" not in params  # Apple documents no PKCE (docs/federation.md)
    # the client secret was a short-lived ES256 JWT made for this request
    claims = apple_stub.secret_claims
    assert claims["iss"] == TEAM and claims["sub"] == APPLE_CLIENT and 0 < claims["exp"] - claims["iat"] <= 300
    link = UserOAuth.objects.get()
    assert (link.issuer, link.provider_uid) == (apple_stub.base, "001234.7f3c5e0b8a1d4c6e9f2b0a3d5c7e9f1b.1207")
    user = link.user
    assert user.email == "dq4mvc8ssz@privaterelay.appleid.com" and user.email_verified_at is not None
    assert user.profile.nickname == "Jane Appleseed"
    # a later sign-in (a known user): Apple's `user`, if sent at all, changes nothing
    r2 = apple_flow(api, apple_stub, user={"name": {"firstName": "Someone", "lastName": "Else"}})[1]
    assert r2.status_code == 200 and r2.json()["user"]["id"] == user.pk
    user.profile.refresh_from_db()
    assert user.profile.nickname == "Jane Appleseed" and UserOAuth.objects.count() == 1
    said = everything_said([r, r2], caplog)
    for secret in ("apple-code", recorded("apple_token.json")["access_token"],
                   recorded("apple_token.json")["refresh_token"], apple_pem.splitlines()[1]):
        assert secret not in said
    assert not any(req["form"].get("client_secret", "x") in said for req in apple_stub.calls("/auth/token"))


def test_apple_email_verified_false_as_a_string_is_not_taken(api, apple, apple_stub):
    apple_stub.overrides = {"email_verified": "false", "email": "jane@example.com"}
    r = apple_flow(api, apple_stub)[1]
    assert r.status_code == 200, r.content
    user = UserOAuth.objects.get().user
    assert user.email is None and user.profile.nickname in (None, "")


@pytest.mark.parametrize("override", [{"nonce": "not-the-nonce"}, {"aud": "com.other.app"},
                                      {"iss": "https://appleid.apple.com.evil.example"},
                                      {"exp": int(time.time()) - 60}])
def test_apple_a_wrong_identity_token_fails(api, apple, apple_stub, override):
    apple_stub.overrides = override
    r = apple_flow(api, apple_stub)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed", r.content
    assert not UserOAuth.objects.exists()


def test_apple_a_code_apple_refuses_fails(api, apple, apple_stub):
    r = apple_flow(api, apple_stub, code="expired-code")[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"


@pytest.mark.parametrize("user", ["{not json", "[]", 7, {"name": "Jane"}, {"name": {"firstName": 5}},
                                  {"name": {"firstName": "x" * 65}}, "x" * 3000])
def test_apple_a_malformed_user_is_400(api, apple, apple_stub, user):
    started = start(api, "apple")
    r = callback(api, "apple", {"code": "apple-code", "state": started["state"], "user": user})
    assert r.status_code == 400 and error_code(r) == "validation_error" and "user" in r.json()["error"]["fields"]
    assert OAuthFlow.objects.count() == 1  # refused before the state was looked at


@pytest.mark.parametrize("args, message", [
    (["--client-secret", "s"], "Apple takes no client secret"),
    (["--team-id", TEAM, "--key-id", KEY_ID], "private_key"),
    (["--team-id", "team", "--key-id", KEY_ID, "--private-key-file", "{pem}"], "team_id"),
    (["--team-id", TEAM, "--key-id", "K", "--private-key-file", "{pem}"], "key_id"),
    (["--team-id", TEAM, "--key-id", KEY_ID, "--private-key-file", "{rsa}"], "EC P-256"),
    (["--team-id", TEAM, "--key-id", KEY_ID, "--private-key-file", "{garbage}"], "EC P-256"),
    (["--team-id", TEAM, "--key-id", KEY_ID, "--private-key-file", "/nonexistent/AuthKey.p8"], "cannot read"),
])
def test_apple_bad_command_input_is_one_line(tmp_path, apple_pem, args, message):
    files = {"{pem}": apple_pem, "{garbage}": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
             "{rsa}": rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                 serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                 serialization.NoEncryption()).decode()}
    for i, a in enumerate(args):
        if a in files:
            (tmp_path / "k.p8").write_text(files[a])
            args = [*args[:i], str(tmp_path / "k.p8"), *args[i + 1:]]
    with pytest.raises(CommandError, match=message) as exc:
        call_command("oauth_provider", "add", "ap", "--kind", "apple", "--client-id", APPLE_CLIENT, *args)
    assert "\n" not in str(exc.value) and "PRIVATE KEY" not in str(exc.value)
    assert not OAuthProvider.objects.exists()


# ---- WeChat --------------------------------------------------------------------------------------------
WX_APPID, WX_SECRET = "wx8a3f5c7e9b1d2f40", "3f9c1e7a5b2d4f6081a3c5e7f9b1d2e4"


class WechatStub(RecordedStub):
    """WeChat's open platform at one origin: /connect/qrconnect (the browser's), and the API's
    GET /sns/oauth2/access_token and /sns/userinfo, answering errors as 200 with an errcode."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.requests[:] = []
        self.data = recorded("wechat.json")
        self.unionid = True

    def route(self, req):
        token, info = dict(self.data["token"]), dict(self.data["userinfo"])
        if not self.unionid:
            token.pop("unionid"), info.pop("unionid")
        if req["path"] == "/sns/oauth2/access_token" and req["method"] == "GET":
            qs = req["query"]
            if (qs.get("appid"), qs.get("secret"), qs.get("grant_type")) != (WX_APPID, WX_SECRET, "authorization_code"):
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            if qs.get("code") != "wx-code":
                return 200, self.data["bad_code"]
            return 200, token
        if req["path"] == "/sns/userinfo" and req["method"] == "GET":
            qs = req["query"]
            if qs.get("access_token") != token["access_token"] or qs.get("openid") != token["openid"]:
                return 200, self.data["bad_token"]
            return 200, info
        return 404, {"errcode": 404, "errmsg": "not found"}


@pytest.fixture(scope="module")
def wechat_stub():
    s = WechatStub()
    yield s
    s.stop()


@pytest.fixture
def wechat(wechat_stub, front, signing_key):
    wechat_stub.reset()
    return providers.provider_add(name="wechat", kind="wechat", client_id=WX_APPID, client_secret=WX_SECRET,
                                 issuer=wechat_stub.base, actor=Actor.system("test"))


def wechat_flow(api, *, code: str = "wx-code", name: str = "wechat", **body):
    started = start(api, name)
    return started, callback(api, name, {"code": code, "state": started["state"], **body})


def test_wechat_sign_in_keys_by_unionid(api, wechat, wechat_stub, caplog):
    caplog.set_level(logging.DEBUG)
    started, r = wechat_flow(api)
    assert r.status_code == 200, r.content
    url = started["authorize_url"]
    assert url.startswith(f"{wechat_stub.base}/connect/qrconnect?") and url.endswith("#wechat_redirect")
    params = q(url.split("#", 1)[0])
    assert params["appid"] == WX_APPID and params["scope"] == "snsapi_login" and params["response_type"] == "code"
    assert params["redirect_uri"] == FRONT and params["state"] == started["state"] and "code_challenge" not in params
    (token_call,) = wechat_stub.calls("/sns/oauth2/access_token")
    assert token_call["method"] == "GET" and not token_call["form"]  # as WeChat documents it
    link = UserOAuth.objects.get()
    assert (link.issuer, link.provider_uid) == (f"{wechat_stub.base}/unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL")
    user = link.user
    assert user.profile.nickname == "微信用户" and user.email is None and user.username is None
    again = wechat_flow(api)[1]
    assert again.status_code == 200 and again.json()["user"]["id"] == user.pk
    # the secret, the code and the tokens travel in WeChat's query strings: never in a log line
    said = everything_said([r, again], caplog)
    for secret in (WX_SECRET, "wx-code", wechat_stub.data["token"]["access_token"],
                   wechat_stub.data["token"]["refresh_token"]):
        assert secret not in said
    assert "/sns/oauth2/access_token" in caplog.text  # urllib3's request line is there, without its query


def test_wechat_an_openid_identity_becomes_its_unionid(api, wechat, wechat_stub):
    """First seen without a unionid (the app was not yet on an open platform account): keyed by
    openid under this appid. Seen later with one: the same account, re-keyed to the unionid."""
    wechat_stub.unionid = False
    first = wechat_flow(api)[1]
    assert first.status_code == 200, first.content
    link = UserOAuth.objects.get()
    assert (link.issuer, link.provider_uid) == (f"{wechat_stub.base}/openid/{WX_APPID}", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    wechat_stub.unionid = True
    second = wechat_flow(api)[1]
    assert second.status_code == 200 and second.json()["user"]["id"] == first.json()["user"]["id"]
    link = UserOAuth.objects.get()
    assert (link.issuer, link.provider_uid) == (f"{wechat_stub.base}/unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL")


def test_wechat_openid_and_unionid_namespaces_stay_apart(api, wechat, wechat_stub):
    """An openid equal to some unionid string is still another identity (bound here through an
    older provider name: the seed's unique (provider, provider_uid) is per name)."""
    other = UserFactory()
    UserOAuth.objects.create(user=other, provider="wechat-old", issuer=f"{wechat_stub.base}/openid/{WX_APPID}",
                             provider_uid="o6_bmasdasdsad6_2sgVt7hMZOPfL")
    r = wechat_flow(api)[1]
    assert r.status_code == 200 and r.json()["user"]["id"] != other.pk


def test_wechat_errcode_answers_are_401(api, wechat, wechat_stub):
    r = wechat_flow(api, code="used-code")[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    wechat_stub.data["userinfo"]["openid"] = "someone-else"  # userinfo of another user: refused
    r = wechat_flow(api)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    wechat_stub.data["token"]["openid"] = "oOther"  # the userinfo call answers errcode 40003
    wechat_stub.data["userinfo"]["openid"] = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    r = wechat_flow(api)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    assert not UserOAuth.objects.exists()
    reasons = [e.metadata["reason"] for e in AuditEvent.objects.filter(action=Action.LOGIN_FAILED)]
    assert reasons == ["oauth_failed"] * 3


def test_wechat_state_is_bound_to_provider_redirect_uri_and_single_use(api, wechat, wechat_stub):
    """WeChat has no PKCE: the server-side state is the defence."""
    providers.provider_add(name="wechat2", kind="wechat", client_id="wx0000000000000001", client_secret=WX_SECRET,
                          issuer=wechat_stub.base, actor=Actor.system("test"))
    theirs = start(api, "wechat2")
    r = callback(api, "wechat", {"code": "wx-code", "state": theirs["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    # a state started for one front end, presented by another
    other = api.get("/v1/oauth/wechat/login", {"redirect_uri": OTHER_FRONT}, HTTP_ACCEPT="application/json").json()
    r = callback(api, "wechat", {"code": "wx-code", "state": other["state"], "redirect_uri": FRONT})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    # the right front end, then the same state again
    started, r = wechat_flow(api, redirect_uri=FRONT)
    assert r.status_code == 200, r.content
    r = callback(api, "wechat", {"code": "wx-code", "state": started["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    # a state started by a signed-in user serves no anonymous sign-in
    token = login(api, UserFactory().username)["access_token"]
    mine = start(api, "wechat", **bearer(token))
    r = callback(api, "wechat", {"code": "wx-code", "state": mine["state"]})
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    assert len(wechat_stub.calls("/sns/oauth2/access_token")) == 1  # only the one good callback reached WeChat


def test_wechat_test_command_checks_the_shape_without_discovery(wechat, wechat_stub):
    out = StringIO()
    call_command("oauth_provider", "test", "wechat", stdout=out)
    assert "credentials shaped right" in out.getvalue() and out.getvalue().strip().endswith("wechat ok")
    assert not wechat_stub.requests
    providers.provider_add(name="wx-bad", kind="wechat", client_id="not-an-appid", client_secret=WX_SECRET,
                          issuer=wechat_stub.base, actor=Actor.system("test"))
    with pytest.raises(CommandError, match="appid looks wrong"):
        call_command("oauth_provider", "test", "wx-bad")
    out = StringIO()
    call_command("oauth_provider", "list", stdout=out)
    assert "wechat\twechat\tenabled" in out.getvalue() and WX_SECRET not in out.getvalue()


# ---- --store-tokens ------------------------------------------------------------------------------------
def test_store_tokens_keeps_them_sealed_and_never_says_them(api, google_stub, front, signing_key, caplog):
    caplog.set_level(logging.DEBUG)
    google_stub.reset()
    call_command("oauth_provider", "add", "google", "--kind", "google", "--client-id", GOOGLE_CLIENT,
                 "--client-secret", GOOGLE_SECRET, "--issuer", google_stub.base, "--store-tokens", stdout=StringIO())
    assert OAuthProvider.objects.get(name="google").store_tokens
    r = google_flow(api, google_stub)[1]
    assert r.status_code == 200, r.content
    answer = recorded("google_token.json")
    link = UserOAuth.objects.get()
    assert answer["access_token"] not in link.access_token and unseal(link.access_token) == answer["access_token"]
    assert unseal(link.refresh_token) == answer["refresh_token"]
    assert 3500 < (link.expires_at - link.created_at).total_seconds() <= 3600
    me = api.get("/v1/users/me", **bearer(r.json()["access_token"]))
    ids = api.get("/v1/users/me/identities", **bearer(r.json()["access_token"]))
    said = everything_said([r, me, ids], caplog)
    for secret in (answer["access_token"], answer["refresh_token"], link.access_token, link.refresh_token):
        assert secret not in said
    out = StringIO()
    call_command("oauth_provider", "list", stdout=out)
    assert "store-tokens" in out.getvalue()


def test_store_tokens_off_keeps_nothing_even_for_a_known_user(api, google, google_stub):
    for _ in range(2):
        assert google_flow(api, google_stub)[1].status_code == 200
    link = UserOAuth.objects.get()
    assert (link.access_token, link.refresh_token, link.expires_at) == (None, None, None)


# ---- refused callbacks: the sign-in flow's per-IP limits and login history -------------------------------
def test_refused_callbacks_count_on_the_ip_failure_limit_the_password_door_uses(api, google, google_stub, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "IP_FAILURES_LIMIT": 3}
    ip = {"REMOTE_ADDR": "198.51.100.23"}
    for body in ({"code": "c", "state": "never-issued"}, {"code": "c", "state": "also-never-issued"}):
        r = api.post("/v1/oauth/google/callback", body, format="json", **ip)
        assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    started = start(api, "google")
    r = api.post("/v1/oauth/google/callback", {"code": "refused-code", "state": started["state"]}, format="json", **ip)
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    # the fourth attempt from that address is refused before anything is looked at
    started = start(api, "google")
    google_stub.challenge, google_stub.nonce = (q(started["authorize_url"])[k] for k in ("code_challenge", "nonce"))
    r = api.post("/v1/oauth/google/callback", {"code": "google-code", "state": started["state"]}, format="json", **ip)
    assert r.status_code == 429 and error_code(r) == "rate_limited" and int(r["Retry-After"]) > 0
    assert OAuthFlow.objects.filter().count() == 1  # that state was not spent
    # the same counter as the password door's: a right password from there is refused too
    user = UserFactory()
    r = api.post("/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json", **ip)
    assert r.status_code == 429
    # another address is untouched
    r = api.post("/v1/oauth/google/callback", {"code": "google-code", "state": started["state"]}, format="json",
                 REMOTE_ADDR="198.51.100.24")
    assert r.status_code == 200, r.content
    failed = AuditEvent.objects.filter(action=Action.LOGIN_FAILED).order_by("occurred_at", "id")
    assert [e.metadata["reason"] for e in failed] == ["oauth_state_invalid", "oauth_state_invalid", "oauth_failed",
                                                      "rate_limited", "rate_limited"]
    assert all(e.metadata.get("method") in ("oauth:google", "password") for e in failed)


def test_refusals_of_a_known_account_are_in_its_login_history(api, google, google_stub, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "IP_FAILURES_LIMIT": 2}
    r = google_flow(api, google_stub)[1]
    assert r.status_code == 200
    user = UserOAuth.objects.get().user
    user.status = "frozen"
    user.save(update_fields=["status"])
    for _ in range(3):  # a disabled account's refusals are not guesses: never limited
        r = google_flow(api, google_stub)[1]
        assert r.status_code == 403 and error_code(r) == "account_disabled"
    history = risk.history_of(user_id=user.pk)
    assert [(h["method"], h["result"]) for h in history] == [("oauth:google", "denied")] * 3 + [
        ("oauth:google", "success")]
    # and the IP was never limited by them (a guess at a state would have been, at 2)
    assert google_flow(api, google_stub)[1].status_code == 403


# ---- re-authentication through a provider -----------------------------------------------------------------
def _external_only_user(api, google_stub) -> dict:
    r = google_flow(api, google_stub)[1]
    assert r.status_code == 200, r.content
    return r.json()


def test_reauth_through_the_provider_lets_an_external_only_account_unbind(api, google, google_stub, wechat):
    pair = _external_only_user(api, google_stub)
    auth = bearer(pair["access_token"])
    user = UserOAuth.objects.get().user
    assert not user.has_usable_password()
    # a second identity, so that unbinding Google is allowed at all
    started = start(api, "wechat", **auth)
    r = api.post("/v1/oauth/wechat/bind", {"code": "wx-code", "state": started["state"]}, format="json", **auth)
    assert r.status_code == 201, r.content
    assert api.delete("/v1/oauth/google/bind", **auth).status_code == 403  # no reauth token yet
    r = google_flow(api, google_stub, path="reauth", headers=auth)[1]
    assert r.status_code == 200, r.content
    assert r["Cache-Control"] == "no-store" and r.json()["expires_in"] == 300
    reauth = r.json()["reauth_token"]
    # bound to this session: another session of the same user cannot use it
    other = google_flow(api, google_stub)[1].json()
    r = api.delete("/v1/oauth/google/bind", **bearer(other["access_token"]), HTTP_X_REAUTH_TOKEN=reauth)
    assert r.status_code == 403 and error_code(r) == "reauth_required"
    r = api.delete("/v1/oauth/google/bind", **auth, HTTP_X_REAUTH_TOKEN=reauth)
    assert r.status_code == 204, r.content
    assert list(UserOAuth.objects.values_list("provider", flat=True)) == ["wechat"]
    assert not AuditEvent.objects.filter(action=Action.REAUTH_FAILED).exists()


def test_reauth_with_an_identity_of_another_account_is_403(api, google, google_stub):
    _external_only_user(api, google_stub)  # the Google identity belongs to this first account
    someone = UserFactory()
    auth = bearer(login(api, someone.username)["access_token"])
    r = google_flow(api, google_stub, path="reauth", headers=auth)[1]
    assert r.status_code == 403 and error_code(r) == "identity_mismatch"
    assert "reauth_token" not in r.content.decode()
    failed = AuditEvent.objects.get(action=Action.REAUTH_FAILED)
    assert failed.subject_user_id == someone.pk
    assert failed.metadata["method"] == "oauth:google" and failed.metadata["reason"] == "identity_mismatch"
    assert failed.metadata["consecutive"] == 1  # on the account's sign-in counter, as a wrong password's reauth
    assert "google-code" not in json.dumps(failed.metadata)


def test_reauth_asks_the_provider_for_a_fresh_sign_in_and_checks_it_happened(api, google, google_stub):
    """prompt=login and max_age=0 (OIDC Core 3.1.2.1): the provider must ask for the user's
    credentials again, and its auth_time must show a sign-in after the flow started; a provider
    session that answers silently is no re-authentication."""
    pair = _external_only_user(api, google_stub)
    auth = bearer(pair["access_token"])
    started, r = google_flow(api, google_stub, path="reauth", headers=auth)
    assert r.status_code == 200, r.content
    params = q(started["authorize_url"])
    assert params["prompt"] == "login" and params["max_age"] == "0"
    google_stub.auth_time = int(time.time()) - 3600  # signed in at Google an hour ago: not fresh
    r = google_flow(api, google_stub, path="reauth", headers=auth)[1]
    assert r.status_code == 401 and error_code(r) == "oauth_failed"
    google_stub.auth_time = None
    google_stub.claims.pop("auth_time", None)
    started = api.get("/v1/oauth/google/login", {"redirect_uri": FRONT, "purpose": "reauth"},
                      HTTP_ACCEPT="application/json", **auth).json()
    params = q(started["authorize_url"])
    google_stub.challenge, google_stub.nonce = params["code_challenge"], params["nonce"]
    r = api.post("/v1/oauth/google/reauth", {"code": "google-code", "state": started["state"]}, format="json", **auth)
    assert r.status_code == 401 and error_code(r) == "oauth_failed"  # no auth_time at all
    # a sign-in (or bind) flow's state is no re-authentication, even the caller's own
    own = start(api, "google", **auth)
    params = q(own["authorize_url"])
    assert "prompt" not in params and "max_age" not in params
    google_stub.challenge, google_stub.nonce = params["code_challenge"], params["nonce"]
    r = api.post("/v1/oauth/google/reauth", {"code": "google-code", "state": own["state"]}, format="json", **auth)
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    assert AuditEvent.objects.filter(action=Action.REAUTH_FAILED).count() == 3


@pytest.mark.parametrize("query", [{"purpose": "reauth"}, {"purpose": "bind"}, {"purpose": ""}])
def test_a_reauth_purpose_needs_a_bearer_and_no_other_purpose_exists(api, google, query):
    token = login(api, UserFactory().username)["access_token"]
    anonymous = api.get("/v1/oauth/google/login", {"redirect_uri": FRONT, **query}, HTTP_ACCEPT="application/json")
    assert anonymous.status_code == 400 and error_code(anonymous) == "validation_error"
    if query["purpose"] != "reauth":
        signed = api.get("/v1/oauth/google/login", {"redirect_uri": FRONT, **query}, HTTP_ACCEPT="application/json",
                         **bearer(token))
        assert signed.status_code == 400 and error_code(signed) == "validation_error"
    assert not OAuthFlow.objects.exists()


def test_reauth_needs_a_state_the_caller_started(api, google, google_stub):
    pair = _external_only_user(api, google_stub)
    auth = bearer(pair["access_token"])
    started = start(api, "google")  # anonymous
    r = api.post("/v1/oauth/google/reauth", {"code": "google-code", "state": started["state"]}, format="json", **auth)
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    other = bearer(login(api, UserFactory().username)["access_token"])
    theirs = start(api, "google", **other)
    r = api.post("/v1/oauth/google/reauth", {"code": "google-code", "state": theirs["state"]}, format="json", **auth)
    assert r.status_code == 400 and error_code(r) == "oauth_state_invalid"
    assert AuditEvent.objects.filter(action=Action.REAUTH_FAILED).count() == 2


@pytest.mark.parametrize("body", [[], "x", {}, {"code": "c"}, {"state": "s"}, {"code": 1, "state": "s"},
                                  {"code": "c", "state": "s" * 300}, {"code": "c", "state": "s", "iss": []},
                                  {"code": "c", "state": "s", "redirect_uri": 5},
                                  {"code": "c", "state": "s", "redirect_uri": "u" * 600}])
def test_bad_reauth_and_callback_bodies_are_400(api, google, body):
    token = login(api, UserFactory().username)["access_token"]
    r = api.post("/v1/oauth/google/reauth", json.dumps(body), content_type="application/json", **bearer(token))
    assert r.status_code == 400 and r.json()["error"]["code"] in ("validation_error", "bad_request"), (body, r.content)
    r = api.post("/v1/oauth/google/callback", json.dumps(body), content_type="application/json")
    assert r.status_code == 400, (body, r.content)


def test_reauth_needs_a_bearer_and_a_known_provider(api, google):
    r = api.post("/v1/oauth/google/reauth", {"code": "c", "state": "s"}, format="json")
    assert r.status_code == 401
    token = login(api, UserFactory().username)["access_token"]
    r = api.post("/v1/oauth/nope/reauth", {"code": "c", "state": "s"}, format="json", **bearer(token))
    assert r.status_code == 404
