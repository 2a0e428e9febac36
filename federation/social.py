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

import time
from typing import Any

from social_core.backends.github_enterprise import GithubEnterpriseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.exceptions import SocialAuthBaseException
from social_core.storage import AssociationMixin, BaseStorage, NonceMixin
from social_core.strategy import BaseStrategy

from .conf import conf

# Asymmetric algorithms only: never `none`, never HS* (an HMAC "signed" with a public key).
ID_TOKEN_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

SocialError = SocialAuthBaseException


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


class OidcBackend(OpenIdConnectAuth):
    """Any OpenID provider through discovery. `do_auth` ends at the validated claims."""

    name = "oidc"
    DEFAULT_USE_PKCE = True

    def get_remote_jwks_keys(self, uri: str | None = None) -> list[dict[str, Any]]:
        # social-core refetches on every unknown `kid`; a stream of forged kids must not
        # become a stream of requests to the provider, so refetch a URL at most this often.
        uri = uri or self.jwks_uri()
        seen = _jwks_fetched.get(uri)
        if seen is not None and time.monotonic() - seen[0] < conf().jwks_min_refetch:
            return seen[1]
        keys = super().get_remote_jwks_keys(uri)
        _jwks_fetched[uri] = (time.monotonic(), keys)
        return keys

    def do_auth(self, access_token, *args, **kwargs):
        response = kwargs.get("response") or {}
        claims = dict(self.id_token or {})
        userinfo: dict[str, Any] = {}
        if self.setting("USERINFO", True):
            try:
                userinfo = self.user_data(access_token) or {}
            except SocialAuthBaseException:
                userinfo = {}  # the ID token alone identifies the user; userinfo only adds profile
        return {"claims": claims, "userinfo": userinfo, "tokens": {
            k: response.get(k) for k in ("access_token", "refresh_token", "expires_in")}}


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
        return {"claims": claims, "userinfo": {}, "tokens": {
            k: response.get(k) for k in ("access_token", "refresh_token", "expires_in")}}


BACKENDS: dict[str, type[OidcBackend] | type[GithubBackend]] = {"oidc": OidcBackend, "github": GithubBackend}
BACKEND_PREFIXES = tuple(f"SOCIAL_AUTH_{cls.name.upper()}_" for cls in BACKENDS.values())


def backend_for(*, settings: dict[str, Any], flow: dict[str, Any], redirect_uri: str,
                data: dict[str, Any] | None = None, protocol: str = "oidc") -> Any:
    return BACKENDS[protocol](RestStrategy(settings=settings, flow=flow, data=data), redirect_uri=redirect_uri)
