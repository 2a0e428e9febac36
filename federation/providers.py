"""Federation's providers: what operators configure (`manage.py oauth_provider`, the admin
page), every change audited, and the backend settings a flow is run with (docs/federation.md)."""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction

from audit.models import Action
from audit.services import Actor, event_record
from custos.crypto import seal, unseal
from custos.exceptions import CustosError, ServiceUnavailable, ValidationFailed

from . import social
from .conf import conf
from .errors import ProviderUnknown
from .models import OAuthFlow, OAuthProvider

log = logging.getLogger("custos.federation")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_URL = "https://github.com"
APPLE_ISSUER = "https://appleid.apple.com"
WECHAT_URL = "https://open.weixin.qq.com"
WECHAT_API = "https://api.weixin.qq.com"
# The kinds an issuer defaults for, and the scopes each asks by default (Apple's are `name` and
# `email`; WeChat's website login is `snsapi_login`).
DEFAULT_ISSUER = {"google": GOOGLE_ISSUER, "github": GITHUB_URL, "apple": APPLE_ISSUER, "wechat": WECHAT_URL}
DEFAULT_SCOPES = {"github": "read:user user:email", "apple": "name email", "wechat": "snsapi_login"}
OPENID_KINDS = ("oidc", "google")  # discovery, PKCE and an ID token through OidcBackend
APPLE_ID_RE = re.compile(r"^[A-Z0-9]{10}$")  # Apple's team and key ids: ten characters
WECHAT_APPID_RE = re.compile(r"^wx[0-9a-f]{16}$")
WECHAT_SECRET_RE = re.compile(r"^[0-9a-f]{32}$")


# ---- providers (manage.py oauth_provider; every change audited) --------------------------------
def _provider_audit(*, provider: OAuthProvider, change: str, actor: Actor, **extra: Any) -> None:
    event_record(action=Action.IDENTITY_PROVIDER_CHANGED, actor=actor,
                 metadata={"provider": provider.name, "kind": provider.kind, "change": change, **extra})


def _check_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed(fields={field: ["An absolute http(s) URL without query or fragment."]})
    return value.rstrip("/")


def apple_private_key(pem: object) -> ec.EllipticCurvePrivateKey:
    """Apple's key as downloaded (a PKCS#8 PEM of a P-256 key); ValidationFailed otherwise."""
    message = {"private_key": ["Apple's private key: the .p8 file's PEM (an EC P-256 key)."]}
    if not isinstance(pem, str) or not pem.strip() or len(pem) > 4096:
        raise ValidationFailed(fields=message)
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8", "replace"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationFailed(fields=message) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValidationFailed(fields=message)
    return key


def provider_clean(*, kind: str, client_id: str, client_secret: str | None, issuer: str | None,
                   scopes: str | None, display_name: str | None, team_id: str | None = None,
                   key_id: str | None = None, private_key: str | None = None) -> dict[str, Any]:
    """The checked, normalized settings of a provider (the command and the admin share them);
    ValidationFailed names the field. A None secret (or Apple private key) means "keep the
    current one"."""
    if kind not in OAuthProvider.Kind.values:
        raise ValidationFailed(fields={"kind": [f"One of {', '.join(OAuthProvider.Kind.values)}."]})
    apple = kind == OAuthProvider.Kind.APPLE
    for field, value in (("client_id", client_id), ("client_secret", client_secret)):
        if field == "client_secret" and value is None:
            continue
        if field == "client_secret" and apple:
            raise ValidationFailed(fields={"client_secret": [
                "Apple takes no client secret: give the team id, the key id and the private key."]})
        if not isinstance(value, str) or not value.strip() or len(value) > 255 or any(c.isspace() for c in value):
            raise ValidationFailed(fields={field: ["1-255 characters without spaces."]})
    if apple:
        for field, value in (("team_id", team_id), ("key_id", key_id)):
            if not isinstance(value, str) or not APPLE_ID_RE.match(value):
                raise ValidationFailed(fields={field: ["Apple's ten-character id (A-Z, 0-9)."]})
        if private_key is not None:
            apple_private_key(private_key)
    elif team_id or key_id or private_key:
        raise ValidationFailed(fields={"team_id" if team_id else "key_id" if key_id else "private_key": [
            "Only for --kind apple."]})
    issuer = issuer or DEFAULT_ISSUER.get(kind)  # github, apple, wechat: another URL is a local server
    if not issuer:
        raise ValidationFailed(fields={"issuer": ["Required for an OpenID provider (its discovery URL's base)."]})
    issuer = _check_url(issuer, "issuer")
    scope_list = (scopes or DEFAULT_SCOPES.get(kind, "openid email profile")).split()
    if (not scope_list or (kind in OPENID_KINDS and "openid" not in scope_list)
            or any(not re.match(r"^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$", s) for s in scope_list)):
        raise ValidationFailed(fields={"scopes": ["Space-separated scopes (including openid for an OpenID provider)."]})
    if display_name is not None and len(display_name) > 128:
        raise ValidationFailed(fields={"display_name": ["At most 128 characters."]})
    return {"kind": kind, "client_id": client_id, "issuer": issuer, "scopes": " ".join(scope_list),
            "display_name": display_name or None, "team_id": (team_id or "") if apple else "",
            "key_id": (key_id or "") if apple else ""}


@transaction.atomic
def provider_add(*, name: str, kind: str, client_id: str, client_secret: str | None = None,
                 issuer: str | None = None, scopes: str | None = None, display_name: str | None = None,
                 trust_email: bool = False, store_tokens: bool = False, team_id: str | None = None,
                 key_id: str | None = None, private_key: str | None = None, actor: Actor) -> OAuthProvider:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationFailed(fields={"name": ["1-64 characters: a-z, 0-9, '_' or '-', starting with a-z or 0-9."]})
    if kind == OAuthProvider.Kind.APPLE and private_key is None and client_secret is None:
        raise ValidationFailed(fields={"private_key": ["This field is required."]})
    if kind != OAuthProvider.Kind.APPLE and client_secret is None:
        raise ValidationFailed(fields={"client_secret": ["This field is required."]})
    clean = provider_clean(kind=kind, client_id=client_id, client_secret=client_secret, issuer=issuer,
                           scopes=scopes, display_name=display_name, team_id=team_id, key_id=key_id,
                           private_key=private_key)
    if OAuthProvider.objects.filter(name=name).exists():
        raise ValidationFailed(fields={"name": ["A provider with this name exists."]})
    credential = private_key if clean["kind"] == OAuthProvider.Kind.APPLE else client_secret
    provider = OAuthProvider.objects.create(
        name=name, kind=clean["kind"], client_id=clean["client_id"], client_secret_sealed=seal(str(credential)),
        issuer=clean["issuer"], scopes=clean["scopes"], display_name=clean["display_name"] or name,
        team_id=clean["team_id"], key_id=clean["key_id"], trust_email=trust_email, store_tokens=store_tokens,
        enabled=True)
    _provider_audit(provider=provider, change="added", actor=actor, issuer=provider.issuer, trust_email=trust_email,
                    store_tokens=store_tokens)
    return provider


@transaction.atomic
def provider_update(*, name: str, client_id: str, client_secret: str | None, issuer: str | None,
                    scopes: str | None, display_name: str | None, trust_email: bool, enabled: bool,
                    store_tokens: bool, team_id: str | None = None, key_id: str | None = None,
                    private_key: str | None = None, actor: Actor) -> OAuthProvider:
    """The admin's change form: every setting but the name and kind; the secret (Apple: the
    private key) only when given."""
    provider = _provider_locked(name)
    apple = provider.kind == OAuthProvider.Kind.APPLE
    clean = provider_clean(kind=provider.kind, client_id=client_id, client_secret=client_secret, issuer=issuer,
                           scopes=scopes, display_name=display_name, team_id=team_id, key_id=key_id,
                           private_key=private_key)
    new = {"client_id": clean["client_id"], "issuer": clean["issuer"], "scopes": clean["scopes"],
           "display_name": clean["display_name"] or provider.name, "trust_email": trust_email, "enabled": enabled,
           "store_tokens": store_tokens, "team_id": clean["team_id"], "key_id": clean["key_id"]}
    changed = [field for field, value in new.items() if getattr(provider, field) != value]
    for field in changed:
        setattr(provider, field, new[field])
    credential = private_key if apple else client_secret
    if credential is not None:
        provider.client_secret_sealed = seal(credential)
        changed.append("private_key" if apple else "client_secret")
    if changed:
        provider.save()
        _provider_audit(provider=provider, change="updated", actor=actor, fields=changed)
    return provider


def _provider_locked(name: str) -> OAuthProvider:
    provider = OAuthProvider.objects.select_for_update().filter(name=name).first() if isinstance(name, str) else None
    if provider is None:
        raise ProviderUnknown()
    return provider


@transaction.atomic
def provider_set_enabled(*, name: str, enabled: bool, actor: Actor) -> OAuthProvider:
    provider = _provider_locked(name)
    if provider.enabled != enabled:
        provider.enabled = enabled
        provider.save(update_fields=["enabled", "updated_at"])
        _provider_audit(provider=provider, change="enabled" if enabled else "disabled", actor=actor)
    return provider


@transaction.atomic
def provider_remove(*, name: str, actor: Actor) -> None:
    """The provider goes; identities bound through it stay (keyed by issuer and subject) and
    serve again if a provider with the same issuer is added."""
    provider = _provider_locked(name)
    OAuthFlow.objects.filter(provider=provider.name).delete()
    provider.delete()
    _provider_audit(provider=provider, change="removed", actor=actor)


def protocol(provider: OAuthProvider) -> str:
    """The social.BACKENDS key that runs this provider's flows (one per kind)."""
    return provider.kind


def backend_settings(provider: OAuthProvider) -> dict[str, Any]:
    try:
        secret = unseal(provider.client_secret_sealed)
    except ValueError as exc:  # the field keys changed without the old one kept: an operator's fix
        log.error("oauth provider %s: client secret unreadable with the current field keys", provider.name)
        raise ServiceUnavailable("The identity provider is not configured correctly.") from exc
    common = {"SCOPE": provider.scopes.split(), "IGNORE_DEFAULT_SCOPE": True, "STATE_LIFETIME": conf().flow_ttl,
              "REQUESTS_TIMEOUT": conf().http_timeout}
    kind = protocol(provider)
    if kind == "github":
        return {**common, "KEY": provider.client_id, "SECRET": secret, "URL": provider.issuer + "/",
                "API_URL": "https://api.github.com/" if provider.issuer == GITHUB_URL else provider.issuer + "/api/v3/"}
    if kind == "apple":
        return {**common, "CLIENT": provider.client_id, "AUDIENCE": [provider.client_id], "TEAM": provider.team_id,
                "KEY": provider.key_id, "SECRET": secret, "ISSUER": provider.issuer}
    if kind == "wechat":
        return {**common, "KEY": provider.client_id, "SECRET": secret, "ISSUER": provider.issuer,
                "URL": provider.issuer,
                "API_URL": WECHAT_API if provider.issuer == WECHAT_URL else provider.issuer}
    return {**common, "KEY": provider.client_id, "SECRET": secret, "OIDC_ENDPOINT": provider.issuer,
            "USE_PKCE": True, "PKCE_CODE_CHALLENGE_METHOD": "S256", "JWT_ALGORITHMS": social.ID_TOKEN_ALGS,
            "NONCE_LIFETIME": conf().flow_ttl}


def discovered_issuer(backend: social.OidcBackend, provider: OAuthProvider) -> None:
    """OpenID Discovery 4.3: the document's issuer is the one configured, exactly."""
    if backend.oidc_config().get("issuer", "").rstrip("/") != provider.issuer:
        raise social.SocialError("issuer_mismatch")


def provider_test(*, name: str) -> list[str]:
    """What `oauth_provider test` reports: discovery and the JWKS reachable and sound, the
    credentials shaped right. Raises CustosError with the first problem."""
    provider = OAuthProvider.objects.filter(name=name).first() if isinstance(name, str) else None
    if provider is None:
        raise ProviderUnknown()
    try:
        secret = unseal(provider.client_secret_sealed)
    except ValueError as exc:
        raise CustosError("The client secret cannot be read with the current field keys.") from exc
    settings = backend_settings(provider)
    backend = social.backend_for(settings=settings, flow={}, redirect_uri="", protocol=protocol(provider))
    notes: list[str] = []
    if protocol(provider) == "apple":
        return _apple_test(provider, backend, secret)
    if protocol(provider) == "wechat":
        # WeChat has no discovery and no keys to fetch, and no call that checks an appid
        # without a user's code: the test is the credentials' documented shape.
        if not WECHAT_APPID_RE.match(provider.client_id):
            raise CustosError("The appid looks wrong: WeChat's are 'wx' and 16 hex digits.")
        if not WECHAT_SECRET_RE.match(secret):
            raise CustosError("The AppSecret looks wrong: WeChat's are 32 hex digits.")
        notes.append(f"authorize at {backend.AUTHORIZATION_URL}, token at {backend.ACCESS_TOKEN_URL}")
        notes.append("credentials shaped right")
        return notes
    if protocol(provider) == "github":
        try:
            backend.get_json(settings["API_URL"])
        except (social.SocialError, requests.RequestException) as exc:
            raise CustosError(f"The GitHub API at {settings['API_URL']} is unreachable.") from exc
        notes.append(f"api ok: {settings['API_URL']}")
        if not provider.client_id or not secret or len(secret) < 8:
            raise CustosError("The client id or secret looks wrong (empty, or a secret under 8 characters).")
        notes.append("credentials shaped right")
        return notes
    try:
        config = backend.oidc_config()
        if str(config.get("issuer", "")).rstrip("/") != provider.issuer:
            raise CustosError(f"Discovery names the issuer {str(config.get('issuer'))[:200]!r}, "
                              f"not {provider.issuer!r}.")
        notes.append(f"discovery ok: {backend.oidc_config_url()}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(config.get(key), str):
                raise CustosError(f"Discovery names no {key}.")
        if "S256" not in (config.get("code_challenge_methods_supported") or ["S256"]):
            raise CustosError("The provider does not support PKCE S256.")
        keys = backend.get_remote_jwks_keys(config["jwks_uri"])
        usable = [k for k in keys if k.get("kty") in ("RSA", "EC", "OKP") and k.get("use", "sig") == "sig"]
        if not usable:
            raise CustosError("The JWKS holds no signing key.")
        notes.append(f"jwks ok: {len(usable)} signing key(s)")
    except social.SocialError as exc:
        raise CustosError(f"Discovery or JWKS failed: {exc}") from exc
    except requests.RequestException as exc:
        raise CustosError(f"Discovery or JWKS unreachable: {type(exc).__name__}") from exc
    if not provider.client_id or not secret or len(secret) < 8:
        raise CustosError("The client id or secret looks wrong (empty, or a secret under 8 characters).")
    notes.append("credentials shaped right")
    return notes


def _apple_test(provider: OAuthProvider, backend: social.AppleBackend, pem: str) -> list[str]:
    """Apple: the private key loads and signs a client-secret JWT that its public key verifies
    with Apple's claims; Apple's JWKS answers with a signing key."""
    try:
        key = apple_private_key(pem)
    except ValidationFailed as exc:
        raise CustosError("The private key does not load: not an EC P-256 key in PEM.") from exc
    token = backend.generate_client_secret()
    try:
        claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience=provider.issuer,
                            issuer=provider.team_id)
    except jwt.PyJWTError as exc:
        raise CustosError("The client-secret JWT does not verify with the key's public half.") from exc
    if claims["sub"] != provider.client_id or jwt.get_unverified_header(token).get("kid") != provider.key_id:
        raise CustosError("The client-secret JWT names another client or key.")
    notes = [f"client secret ok: ES256, kid {provider.key_id}, team {provider.team_id}, "
             f"valid {claims['exp'] - claims['iat']} s"]
    try:
        keys = backend._fetch_keys(backend.JWK_URL)
    except (social.SocialError, requests.RequestException, ValueError, AttributeError) as exc:
        raise CustosError(f"Apple's keys at {backend.JWK_URL} are unreachable or malformed.") from exc
    usable = [k for k in keys if k.get("kty") == "RSA" and k.get("use", "sig") == "sig" and k.get("kid")]
    if not usable:
        raise CustosError("The JWKS holds no signing key.")
    notes.append(f"jwks ok: {len(usable)} signing key(s) at {backend.JWK_URL}")
    return notes


def enabled(name: object) -> OAuthProvider:
    provider = (OAuthProvider.objects.filter(name=name, enabled=True).first()
                if isinstance(name, str) and NAME_RE.match(name) else None)
    if provider is None:
        raise ProviderUnknown()
    return provider
