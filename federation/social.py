"""social-auth-core's backends behind a REST strategy (docs/federation.md).

social-core speaks the protocol: the authorization URL, PKCE S256, the nonce, the state's
transaction, the code exchange, discovery, the JWKS (cached per URL, refetched on an unknown
`kid`) and the ID token's checks (signature, alg allowlist, iss, aud, azp, exp, iat, nonce,
at_hash). It keeps its per-flow state in a "session" and one-use values in a "storage"; here
both are one plain dict, `flow`, that federation.services seals into an `oauth_flows` row at
login and takes back (deleting the row: single use) at the callback. No Django session, no
cookie, and social-core's pipeline never runs: federation.services does the rest itself.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

import jwt
from social_core.backends.apple import AppleIdAuth
from social_core.backends.github_enterprise import GithubEnterpriseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.backends.weixin import WeixinOAuth2
from social_core.exceptions import AuthResponseError, SocialAuthBaseException
from social_core.storage import AssociationMixin, BaseStorage, NonceMixin
from social_core.strategy import BaseStrategy

from .conf import conf

# Asymmetric algorithms only: never `none`, never HS* (an HMAC "signed" with a public key).
ID_TOKEN_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

SocialError = SocialAuthBaseException


class _NoQueryInRequestLines(logging.Filter):
    """WeChat's documented API takes the app secret, the code and the access token in the query
    string, and urllib3 logs each request line at DEBUG: keep the path, drop the query, so no
    log level ever writes a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.split("?", 1)[0] if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoQueryInRequestLines())


class _Association:
    def __init__(self, pk: int, server_url: str, handle: str, issued: int, lifetime: int, assoc_type: str,
                 **_: Any) -> None:
        self.id, self.server_url, self.handle = pk, server_url, handle
        self.issued, self.lifetime, self.assoc_type = issued, lifetime, assoc_type

    def is_expired(self) -> bool:
        return self.lifetime <= 0 or time.time() >= self.issued + self.lifetime


def _storage_for(flow: dict[str, Any]) -> type[BaseStorage]:
    """social-core's storage API is class methods; each flow gets classes over its own dict."""
    nonces: list[list[Any]] = flow.setdefault("nonces", [])
    assocs: list[dict[str, Any] | None] = flow.setdefault("assocs", [])

    class Nonce(NonceMixin):
        @classmethod
        def use(cls, server_url, timestamp, salt):
            nonces.append([server_url, timestamp, salt])
            return True

        @classmethod
        def consume(cls, server_url, timestamp, salt) -> bool:
            entry = [server_url, timestamp, salt]
            if entry in nonces:
                nonces.remove(entry)
                return True
            return False

    class Association(AssociationMixin):
        @classmethod
        def store(cls, server_url, association):
            assocs.append({"server_url": server_url, "handle": association.handle, "issued": association.issued,
                           "lifetime": association.lifetime, "assoc_type": association.assoc_type})

        @classmethod
        def get(cls, server_url=None, handle=None):
            return [_Association(i, **a) for i, a in enumerate(assocs)
                    if a is not None and (server_url is None or a["server_url"] == server_url)
                    and (handle is None or a["handle"] == handle)]

        @classmethod
        def remove(cls, ids_to_delete):
            for i in ids_to_delete:
                assocs[i] = None

    class Storage(BaseStorage):
        nonce = Nonce
        association = Association

    return Storage


class RestStrategy(BaseStrategy):
    """Settings from the provider's row, the "session" in the flow dict, request data given."""

    def __init__(self, *, settings: dict[str, Any], flow: dict[str, Any], data: dict[str, Any] | None = None):
        self._settings = settings
        self.flow = flow
        self.flow.setdefault("session", {})
        self.data = data or {}
        super().__init__(storage=_storage_for(flow))

    def get_setting(self, name: str):
        # The backend asks SOCIAL_AUTH_<BACKEND>_<NAME>, SOCIAL_AUTH_<NAME>, then <NAME>: only
        # the first is answered, from the provider's row, so Django settings never leak in.
        for prefix in BACKEND_PREFIXES:
            if name.startswith(prefix) and name[len(prefix):] in self._settings:
                return self._settings[name[len(prefix):]]
        raise KeyError(name)

    def request_data(self, merge: bool = True) -> dict[str, Any]:
        return dict(self.data)

    def session_get(self, name: str, default=None):
        return self.flow["session"].get(name, default)

    def session_set(self, name: str, value):
        self.flow["session"][name] = value

    def session_pop(self, name: str):
        return self.flow["session"].pop(name, None)

    def build_absolute_uri(self, path: str | None = None) -> str:
        return path or ""

    def redirect(self, url: str):
        return url

    # A REST flow renders no page: the front end gets the authorize URL or a 302, and the
    # callback comes back as JSON. social-core calls these only for backends that post a form.
    def html(self, content: str):
        raise NotImplementedError

    def render_html(self, *args, **kwargs):
        raise NotImplementedError

    def authenticate(self, backend, *args, **kwargs):
        raise NotImplementedError  # social-core's pipeline is not used (OidcBackend.do_auth)


_jwks_fetched: dict[str, tuple[float, list[dict[str, Any]]]] = {}
JWKS_MAX_AGE = 86400  # as social-core caches an OpenID provider's keys


def _jwks_throttled(uri: str, fetch: Any) -> list[dict[str, Any]]:
    """A provider's keys, fetched again at most every CUSTOS_OAUTH_JWKS_MIN_REFETCH seconds: a
    stream of forged `kid`s must not become a stream of requests to the provider."""
    seen = _jwks_fetched.get(uri)
    if seen is not None and time.monotonic() - seen[0] < conf().jwks_min_refetch:
        return seen[1]
    keys = fetch(uri)
    _jwks_fetched[uri] = (time.monotonic(), keys)
    return keys


def _tokens_of(response: dict[str, Any]) -> dict[str, Any]:
    return {k: response.get(k) for k in ("access_token", "refresh_token", "expires_in")}


class OidcBackend(OpenIdConnectAuth):
    """Any OpenID provider through discovery. `do_auth` ends at the validated claims."""

    name = "oidc"
    DEFAULT_USE_PKCE = True

    def get_remote_jwks_keys(self, uri: str | None = None) -> list[dict[str, Any]]:
        # social-core refetches on every unknown `kid`; a stream of forged kids must not
        # become a stream of requests to the provider, so refetch a URL at most this often.
        return _jwks_throttled(uri or self.jwks_uri(), super().get_remote_jwks_keys)

    def do_auth(self, access_token, *args, **kwargs):
        response = kwargs.get("response") or {}
        claims = dict(self.id_token or {})
        userinfo: dict[str, Any] = {}
        if self.setting("USERINFO", True):
            try:
                userinfo = self.user_data(access_token) or {}
            except SocialAuthBaseException:
                userinfo = {}  # the ID token alone identifies the user; userinfo only adds profile
        return {"claims": claims, "userinfo": userinfo, "tokens": _tokens_of(response)}


class GoogleBackend(OidcBackend):
    """Google through discovery, as any OpenID provider, with Google's one difference: its ID
    tokens name the issuer `https://accounts.google.com` or `accounts.google.com` (Google's
    "Validate an ID token"); both are accepted and the identity is keyed by the configured
    issuer, so one account is one identity whichever form a token carries. `hd` (Workspace
    domain) is not required. social-core's GoogleOpenIdConnect is not used: it accepts only the
    bare form, fixes the userinfo URL (no local stub), sends the access token in the query
    string, and refuses a sign-in whose userinfo lacks email_verified."""

    name = "google"

    def id_token_issuer(self) -> Any:
        issuer = super().id_token_issuer()
        return [issuer, issuer.split("://", 1)[-1]]

    def do_auth(self, access_token, *args, **kwargs):
        result = super().do_auth(access_token, *args, **kwargs)
        result["claims"]["iss"] = self.setting("OIDC_ENDPOINT")
        return result


class AppleBackend(AppleIdAuth):
    """Sign in with Apple on social-core's AppleIdAuth: the client secret is an ES256 JWT signed
    per token request with the team's private key, the authorization answer comes by
    `response_mode=form_post` to the front end, and the name arrives once, outside the ID token
    (the front end passes Apple's `user` JSON on). Added here: the endpoints and the issuer
    derive from the provider's issuer (https://appleid.apple.com; a local stub in the tests); a
    nonce bound to the state, as for OpenID; a client secret that lives minutes, not social-core's
    six months; the client id never taken from the request; `email_verified` read as Apple sends
    it (true or "true"). No PKCE: Apple documents no `code_challenge` and AppleIdAuth sends none;
    the server-side single-use state and the nonce are the defence."""

    name = "apple"
    CLIENT_SECRET_TTL = 300

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        base = self.setting("ISSUER")
        self.ID_TOKEN_ISSUER = self.TOKEN_AUDIENCE = base
        self.AUTHORIZATION_URL = f"{base}/auth/authorize"
        self.ACCESS_TOKEN_URL = f"{base}/auth/token"
        self.JWK_URL = f"{base}/auth/keys"

    def get_key_and_secret(self) -> tuple[str, str]:
        return self.setting("CLIENT"), self.generate_client_secret()

    def generate_client_secret(self) -> str:
        now = int(time.time())
        return jwt.encode({"iss": self.setting("TEAM"), "iat": now, "exp": now + self.CLIENT_SECRET_TTL,
                           "aud": self.TOKEN_AUDIENCE, "sub": self.setting("CLIENT")},
                          key=self.get_private_key(), algorithm="ES256", headers={"kid": self.setting("KEY")})

    def auth_params(self, state=None):
        params = super().auth_params(state)
        nonce = self.strategy.random_string(64)
        key = self.transaction_key(state)
        self.strategy.session_set(key, {**(self.strategy.session_get(key) or {}), "nonce": nonce})
        params["nonce"] = nonce
        return params

    def _fetch_keys(self, uri: str) -> list[dict[str, Any]]:
        keys = (self.get_json(uri, stage="token_validation") or {}).get("keys")
        if not isinstance(keys, list) or any(not isinstance(k, dict) for k in keys):
            raise AuthResponseError(self, code="malformed_response", stage="token_validation")
        return keys

    def get_apple_jwk(self, kid=None) -> str:
        # social-core fetches Apple's keys at every sign-in; here they are kept a day, and an
        # unknown `kid` (Apple rotated, or a forgery) fetches them again, throttled.
        seen = _jwks_fetched.get(self.JWK_URL)
        keys = seen[1] if seen is not None and time.monotonic() - seen[0] < JWKS_MAX_AGE else []
        if not any(k.get("kid") == kid for k in keys):
            keys = _jwks_throttled(self.JWK_URL, self._fetch_keys)
        for key in keys:
            if isinstance(kid, str) and key.get("kid") == kid and key.get("kty") == "RSA":
                return json.dumps(key)
        raise AuthResponseError(self, code="invalid_signature", stage="token_validation")

    def decode_id_token(self, id_token):
        claims = super().decode_id_token(id_token)  # signature (RS256), iss, aud = client id, exp
        expected = (self._oauth2_transaction or {}).get("nonce")
        nonce = claims.get("nonce")
        if not (isinstance(expected, str) and isinstance(nonce, str) and expected
                and hmac.compare_digest(nonce, expected)):
            raise AuthResponseError(self, code="nonce_mismatch", stage="token_validation")
        if not isinstance(claims.get("iat"), int) or claims["iat"] < time.time() - conf().flow_ttl:
            raise AuthResponseError(self, code="response_expired", stage="token_validation")
        return claims

    def do_auth(self, access_token, *args, **kwargs):
        response = kwargs.get("response") or {}
        raw = response.get("id_token")
        if not isinstance(raw, str) or not raw:
            raise AuthResponseError(self, code="missing_claim", stage="token_validation")
        claims = dict(self.decode_id_token(raw))
        claims["email_verified"] = claims.get("email_verified") in (True, "true")  # Apple sends strings
        claims["is_private_email"] = claims.get("is_private_email") in (True, "true")
        claims["iss"] = self.setting("ISSUER")
        name = (self.data.get("user") or {}).get("name") or {}
        full = " ".join(p.strip() for p in (name.get("firstName"), name.get("lastName")) if isinstance(p, str))
        if full.strip():
            claims["name"] = full.strip()  # sent at the first sign-in only, unsigned: a profile hint
        return {"claims": claims, "userinfo": {}, "tokens": _tokens_of(response)}


class WechatBackend(WeixinOAuth2):
    """WeChat website login (网站应用微信登录) on social-core's WeixinOAuth2: OAuth 2.0 with appid and
    secret, no ID token, no PKCE (WeChat has none: the server-side single-use state bound to
    provider, redirect URI and user is the defence). Added here: endpoints derived from the
    provider's issuer (open.weixin.qq.com, the API at api.weixin.qq.com; a local stub in tests),
    the token request as WeChat documents it (GET), its 200-with-errcode answers refused at
    both calls, and the subject: `unionid` when WeChat gives one, else `openid`, in separate
    namespaces (docs/federation.md, "WeChat")."""

    name = "wechat"
    ACCESS_TOKEN_METHOD = "GET"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.AUTHORIZATION_URL = f"{self.setting('URL')}/connect/qrconnect"
        self.ACCESS_TOKEN_URL = f"{self.setting('API_URL')}/sns/oauth2/access_token"

    def auth_url(self) -> str:
        return super().auth_url() + "#wechat_redirect"  # as WeChat's document writes the URL

    def auth_complete(self, *args, **kwargs):
        self.process_error(self.data)
        state = self.validate_state()
        response = self.request_access_token(self.ACCESS_TOKEN_URL, params=self.auth_complete_params(state),
                                             method="GET")  # an errcode answer raises here
        return self.do_auth(self.get_access_token(response), *args, response=response, **kwargs)

    def auth_complete_params(self, state=None):
        params = super().auth_complete_params(state)
        params.pop("redirect_uri", None)  # not a parameter of WeChat's token request
        return params

    def user_data(self, access_token: str, *args, **kwargs) -> dict[str, Any] | None:
        data = self.get_json(f"{self.setting('API_URL')}/sns/userinfo", params={
            "access_token": access_token, "openid": kwargs["response"]["openid"]})
        if not isinstance(data, dict):
            raise AuthResponseError(self, code="malformed_response", stage="user_info")
        self._process_error(data, stage="user_info")
        return data

    def do_auth(self, access_token, *args, **kwargs):
        response = kwargs.get("response") or {}
        openid = response.get("openid")
        if not isinstance(openid, str) or not openid:
            raise AuthResponseError(self, code="missing_claim", stage="token_exchange")
        info = self.user_data(access_token, response=response) or {}
        if info.get("openid") != openid:
            raise AuthResponseError(self, code="invalid_claim", stage="user_info")
        unionid = response.get("unionid") or info.get("unionid")
        if unionid is not None and (not isinstance(unionid, str) or
                                    (info.get("unionid") not in (None, unionid))):
            raise AuthResponseError(self, code="invalid_claim", stage="user_info")
        issuer = self.setting("ISSUER")
        openid_ns = f"{issuer}/openid/{self.setting('KEY')}"  # an openid is per appid
        claims: dict[str, Any] = {"iss": f"{issuer}/unionid", "sub": unionid} if unionid else {
            "iss": openid_ns, "sub": openid}
        if isinstance(info.get("nickname"), str):
            claims["name"] = info["nickname"]
        return {"claims": claims, "userinfo": {}, "tokens": _tokens_of(response),
                "aliases": [(openid_ns, openid)] if unionid else []}


class GithubBackend(GithubEnterpriseOAuth2):
    """GitHub (github.com, or an Enterprise Server at the provider's issuer): OAuth 2.0, no ID
    token. The subject is the account's numeric id (a login can be renamed); the email is the
    primary one only if GitHub has verified it (social-core takes the primary unverified too)."""

    name = "github"

    def user_data(self, access_token: str, *args, **kwargs) -> dict[str, Any] | None:
        data = self._user_data(access_token)
        if not isinstance(data, dict) or isinstance(data.get("id"), bool) or not isinstance(data.get("id"), int):
            raise SocialAuthBaseException("github_user_malformed")
        try:
            emails = self._user_data(access_token, "/emails")
        except SocialAuthBaseException:
            emails = []
        verified = [e.get("email") for e in emails if isinstance(emails, list) and isinstance(e, dict)
                    and e.get("primary") is True and e.get("verified") is True and isinstance(e.get("email"), str)]
        return {"user": data, "verified_email": verified[0] if verified else None}

    def do_auth(self, access_token, *args, **kwargs):
        response = kwargs.get("response") or {}
        info = self.user_data(access_token) or {}
        user = info["user"]
        claims = {"iss": self.setting("URL").rstrip("/"), "sub": str(user["id"]),
                  "preferred_username": user.get("login"), "name": user.get("name") or user.get("login")}
        if info["verified_email"]:
            claims.update(email=info["verified_email"], email_verified=True)
        return {"claims": claims, "userinfo": {}, "tokens": _tokens_of(response)}


BACKENDS: dict[str, type[Any]] = {"oidc": OidcBackend, "google": GoogleBackend, "github": GithubBackend,
                                  "apple": AppleBackend, "wechat": WechatBackend}
BACKEND_PREFIXES = tuple(f"SOCIAL_AUTH_{cls.name.upper()}_" for cls in BACKENDS.values())


def backend_for(*, settings: dict[str, Any], flow: dict[str, Any], redirect_uri: str,
                data: dict[str, Any] | None = None, protocol: str = "oidc") -> Any:
    return BACKENDS[protocol](RestStrategy(settings=settings, flow=flow, data=data), redirect_uri=redirect_uri)
