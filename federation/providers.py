"""Federation's providers: what operators configure (`manage.py oauth_provider`, the admin
page), every change audited, and the backend settings a flow is run with (docs/federation.md)."""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import requests
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
# Kinds whose sign-in is built; the others are accepted by no command yet (docs/federation.md).
BUILT_KINDS = (OAuthProvider.Kind.OIDC, OAuthProvider.Kind.GOOGLE, OAuthProvider.Kind.GITHUB)


# ---- providers (manage.py oauth_provider; every change audited) --------------------------------
def _provider_audit(*, provider: OAuthProvider, change: str, actor: Actor, **extra: Any) -> None:
    event_record(action=Action.IDENTITY_PROVIDER_CHANGED, actor=actor,
                 metadata={"provider": provider.name, "kind": provider.kind, "change": change, **extra})


def _check_url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed(fields={field: ["An absolute http(s) URL without query or fragment."]})
    return value.rstrip("/")


def provider_clean(*, kind: str, client_id: str, client_secret: str | None, issuer: str | None,
                   scopes: str | None, display_name: str | None) -> dict[str, Any]:
    """The checked, normalized settings of a provider (the command and the admin share them);
    ValidationFailed names the field. A None secret means "keep the current one"."""
    if kind not in OAuthProvider.Kind.values:
        raise ValidationFailed(fields={"kind": [f"One of {', '.join(OAuthProvider.Kind.values)}."]})
    if kind not in BUILT_KINDS:
        raise ValidationFailed(fields={"kind": [f"Kind {kind} is not supported yet (only oidc, google, github)."]})
    for field, value in (("client_id", client_id), ("client_secret", client_secret)):
        if field == "client_secret" and value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 255 or any(c.isspace() for c in value):
            raise ValidationFailed(fields={field: ["1-255 characters without spaces."]})
    github = kind == OAuthProvider.Kind.GITHUB
    if kind == OAuthProvider.Kind.GOOGLE:
        issuer = issuer or GOOGLE_ISSUER
    elif github:
        issuer = issuer or GITHUB_URL  # another URL: a GitHub Enterprise Server
    if not issuer:
        raise ValidationFailed(fields={"issuer": ["Required for an OpenID provider (its discovery URL's base)."]})
    issuer = _check_url(issuer, "issuer")
    scope_list = (scopes or ("read:user user:email" if github else "openid email profile")).split()
    if (not scope_list or (not github and "openid" not in scope_list)
            or any(not re.match(r"^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$", s) for s in scope_list)):
        raise ValidationFailed(fields={"scopes": ["Space-separated scopes (including openid for an OpenID provider)."]})
    if display_name is not None and len(display_name) > 128:
        raise ValidationFailed(fields={"display_name": ["At most 128 characters."]})
    return {"kind": kind, "client_id": client_id, "issuer": issuer, "scopes": " ".join(scope_list),
            "display_name": display_name or None}


@transaction.atomic
def provider_add(*, name: str, kind: str, client_id: str, client_secret: str, issuer: str | None = None,
                 scopes: str | None = None, display_name: str | None = None, trust_email: bool = False,
                 store_tokens: bool = False, actor: Actor) -> OAuthProvider:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationFailed(fields={"name": ["1-64 characters: a-z, 0-9, '_' or '-', starting with a-z or 0-9."]})
    if client_secret is None:
        raise ValidationFailed(fields={"client_secret": ["This field is required."]})
    clean = provider_clean(kind=kind, client_id=client_id, client_secret=client_secret, issuer=issuer,
                           scopes=scopes, display_name=display_name)
    if OAuthProvider.objects.filter(name=name).exists():
        raise ValidationFailed(fields={"name": ["A provider with this name exists."]})
    provider = OAuthProvider.objects.create(
        name=name, kind=clean["kind"], client_id=clean["client_id"], client_secret_sealed=seal(client_secret),
        issuer=clean["issuer"], scopes=clean["scopes"], display_name=clean["display_name"] or name,
        trust_email=trust_email, store_tokens=store_tokens, enabled=True)
    _provider_audit(provider=provider, change="added", actor=actor, issuer=provider.issuer, trust_email=trust_email)
    return provider


@transaction.atomic
def provider_update(*, name: str, client_id: str, client_secret: str | None, issuer: str | None,
                    scopes: str | None, display_name: str | None, trust_email: bool, enabled: bool,
                    store_tokens: bool, actor: Actor) -> OAuthProvider:
    """The admin's change form: every setting but the name and kind; the secret only when given."""
    provider = _provider_locked(name)
    clean = provider_clean(kind=provider.kind, client_id=client_id, client_secret=client_secret, issuer=issuer,
                           scopes=scopes, display_name=display_name)
    new = {"client_id": clean["client_id"], "issuer": clean["issuer"], "scopes": clean["scopes"],
           "display_name": clean["display_name"] or provider.name, "trust_email": trust_email, "enabled": enabled,
           "store_tokens": store_tokens}
    changed = [field for field, value in new.items() if getattr(provider, field) != value]
    for field in changed:
        setattr(provider, field, new[field])
    if client_secret is not None:
        provider.client_secret_sealed = seal(client_secret)
        changed.append("client_secret")
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
    return "github" if provider.kind == OAuthProvider.Kind.GITHUB else "oidc"


def backend_settings(provider: OAuthProvider) -> dict[str, Any]:
    try:
        secret = unseal(provider.client_secret_sealed)
    except ValueError as exc:  # the field keys changed without the old one kept: an operator's fix
        log.error("oauth provider %s: client secret unreadable with the current field keys", provider.name)
        raise ServiceUnavailable("The identity provider is not configured correctly.") from exc
    if protocol(provider) == "github":
        return {
            "KEY": provider.client_id,
            "SECRET": secret,
            "URL": provider.issuer + "/",
            "API_URL": "https://api.github.com/" if provider.issuer == GITHUB_URL else provider.issuer + "/api/v3/",
            "SCOPE": provider.scopes.split(),
            "IGNORE_DEFAULT_SCOPE": True,
            "STATE_LIFETIME": conf().flow_ttl,
            "REQUESTS_TIMEOUT": conf().http_timeout,
        }
    return {
        "KEY": provider.client_id,
        "SECRET": secret,
        "OIDC_ENDPOINT": provider.issuer,
        "SCOPE": provider.scopes.split(),
        "IGNORE_DEFAULT_SCOPE": True,
        "USE_PKCE": True,
        "PKCE_CODE_CHALLENGE_METHOD": "S256",
        "JWT_ALGORITHMS": social.ID_TOKEN_ALGS,
        "STATE_LIFETIME": conf().flow_ttl,
        "NONCE_LIFETIME": conf().flow_ttl,
        "REQUESTS_TIMEOUT": conf().http_timeout,
    }


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
    notes = []
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


def enabled(name: object) -> OAuthProvider:
    provider = (OAuthProvider.objects.filter(name=name, enabled=True).first()
                if isinstance(name, str) and NAME_RE.match(name) else None)
    if provider is None:
        raise ProviderUnknown()
    return provider
