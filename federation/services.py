"""Federation's writes: the providers operators configure, the flows users start and finish,
and the identities those flows bind (docs/federation.md)."""
from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import User
from accounts.security import throttle
from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import context
from custos.crypto import seal, sha256_hex, unseal
from custos.exceptions import AccountDisabled, CustosError, ServiceUnavailable, ValidationFailed
from sessions_app import signin

from . import social
from .conf import conf
from .errors import (
    AccountExists,
    IdentityAlreadyBound,
    IdentityNotBound,
    LastLoginMethod,
    OAuthFailed,
    OAuthStateInvalid,
    ProviderUnknown,
    RedirectUriRefused,
)
from .models import OAuthFlow, OAuthProvider, UserOAuth

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


def _protocol(provider: OAuthProvider) -> str:
    return "github" if provider.kind == OAuthProvider.Kind.GITHUB else "oidc"


def _settings(provider: OAuthProvider) -> dict[str, Any]:
    try:
        secret = unseal(provider.client_secret_sealed)
    except ValueError as exc:  # the field keys changed without the old one kept: an operator's fix
        log.error("oauth provider %s: client secret unreadable with the current field keys", provider.name)
        raise ServiceUnavailable("The identity provider is not configured correctly.") from exc
    if _protocol(provider) == "github":
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


def _discovered_issuer(backend: social.OidcBackend, provider: OAuthProvider) -> None:
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
    settings = _settings(provider)
    backend = social.backend_for(settings=settings, flow={}, redirect_uri="", protocol=_protocol(provider))
    notes = []
    if _protocol(provider) == "github":
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


# ---- the flow: login (start) and callback (finish) ---------------------------------------------
def _enabled(name: object) -> OAuthProvider:
    provider = (OAuthProvider.objects.filter(name=name, enabled=True).first()
                if isinstance(name, str) and NAME_RE.match(name) else None)
    if provider is None:
        raise ProviderUnknown()
    return provider


def flow_start(*, provider_name: str, redirect_uri: object, user_id: int | None = None) -> dict[str, str]:
    """The authorization URL for the front end, with its state; PKCE verifier, nonce and the
    state's binding (provider, redirect URI, user) stay here, sealed, in `oauth_flows`."""
    provider = _enabled(provider_name)
    if not isinstance(redirect_uri, str) or redirect_uri not in conf().redirect_uris:
        raise RedirectUriRefused()
    ip = context.current().ip
    if ip:  # each login writes a row: a flood from one client is refused, 429 with Retry-After
        throttle.counted_limit(f"oauth:login:ip:{ip}", conf().logins_per_ip_per_hour, 3600)
    flow: dict[str, Any] = {}
    backend = social.backend_for(settings=_settings(provider), flow=flow, redirect_uri=redirect_uri,
                                 protocol=_protocol(provider))
    try:
        if _protocol(provider) == "oidc":
            _discovered_issuer(backend, provider)
        url = backend.auth_url()
    except (social.SocialError, requests.RequestException) as exc:
        raise ServiceUnavailable("The identity provider cannot be reached; retry later.") from exc
    state = parse_qs(urlsplit(url).query)["state"][0]
    now = timezone.now()
    with transaction.atomic():
        OAuthFlow.objects.filter(expires_at__lt=now).delete()
        OAuthFlow.objects.create(state_hash=sha256_hex(state), provider=provider.name, redirect_uri=redirect_uri,
                                 user_id=user_id, sealed=seal(json.dumps(flow)),
                                 expires_at=now + timedelta(seconds=conf().flow_ttl))
    return {"authorize_url": url, "state": state}


def _flow_spend(*, state: str, provider: OAuthProvider, user_id: int | None) -> tuple[OAuthFlow, dict[str, Any]]:
    """Take the flow and delete it, committed at once: a state serves one callback, whatever
    that callback's outcome."""
    key = sha256_hex(state)
    with transaction.atomic():
        row = OAuthFlow.objects.filter(pk=key).first()
        if row is None or OAuthFlow.objects.filter(pk=key).delete()[0] != 1:
            raise OAuthStateInvalid()
    if row.provider != provider.name or row.expires_at <= timezone.now() or row.user_id != user_id:
        raise OAuthStateInvalid()
    try:
        return row, json.loads(unseal(row.sealed))
    except ValueError as exc:
        raise OAuthStateInvalid() from exc


def flow_finish(*, provider_name: str, code: str, state: str, iss: str | None = None,
                user_id: int | None = None) -> dict[str, Any]:
    """Spend the state, exchange the code (with the PKCE verifier), validate the ID token.
    Returns {"claims", "userinfo", "tokens"} for the provider's subject."""
    provider = _enabled(provider_name)
    row, flow = _flow_spend(state=state, provider=provider, user_id=user_id)
    if iss is not None and iss.rstrip("/") != provider.issuer:
        raise OAuthFailed()  # RFC 9207: the answer came from another issuer (a mix-up)
    backend = social.backend_for(settings=_settings(provider), flow=flow, redirect_uri=row.redirect_uri,
                                 data={"code": code, "state": state}, protocol=_protocol(provider))
    try:
        result = backend.auth_complete()
    except social.SocialError as exc:
        reason = f"{getattr(exc, 'stage', None)}:{getattr(exc, 'code', None)}"
        log.warning("oauth callback refused: provider=%s reason=%s", provider.name, reason)
        if reason in ("callback:session_context_missing", "callback:state_mismatch", "callback:missing_parameter"):
            raise OAuthStateInvalid() from exc
        raise OAuthFailed() from exc
    except (requests.RequestException, KeyError, TypeError, ValueError, AttributeError) as exc:
        # a provider's malformed answer that social-core did not name: refused, never a 500
        log.warning("oauth callback refused: provider=%s reason=%s", provider.name, type(exc).__name__)
        raise OAuthFailed() from exc
    claims = result["claims"]
    sub, iss_claim = claims.get("sub"), claims.get("iss")
    if not isinstance(sub, str) or not sub or len(sub) > 255 or not isinstance(iss_claim, str):
        raise OAuthFailed()
    return result


# ---- identities ----------------------------------------------------------------------------------
def _profile(claims: dict[str, Any], userinfo: dict[str, Any]) -> dict[str, Any]:
    extra = userinfo if userinfo.get("sub") == claims.get("sub") else {}
    return {**extra, **{k: v for k, v in claims.items() if v is not None}}


def _new_account_fields(provider: OAuthProvider, profile: dict[str, Any]) -> dict[str, Any]:
    """The new account's identifiers and profile from the claims: the email only when the
    provider says it verified it (marked verified here only with --trust-email); a local
    account holding that email is never linked (409 account_exists)."""
    fields: dict[str, Any] = {}
    email = profile.get("email")
    if isinstance(email, str) and profile.get("email_verified") is True:
        try:
            email = account_services.normalize_identifiers(username=None, email=email, phone=None)["email"]
        except ValidationFailed:
            email = None
        if email:
            if account_selectors.user_by_address("email", email) is not None:
                raise AccountExists()
            fields["email"] = email
            if provider.trust_email:
                fields["verified"] = "email"
    name = profile.get("name") or profile.get("nickname") or profile.get("preferred_username")
    if isinstance(name, str) and name.strip():
        fields["nickname"] = name.strip()[:64]
    if "email" not in fields:
        # user_create wants one identifier; with no verified email the account gets a
        # generated username (see docs/federation.md, "not built yet")
        fields["username"] = f"{provider.name[:40]}-{sha256_hex(profile['iss'] + ' ' + profile['sub'])[:16]}"
    return fields


def _tokens(provider: OAuthProvider, tokens: dict[str, Any]) -> dict[str, Any]:
    if not provider.store_tokens:
        return {}
    out: dict[str, Any] = {}
    for key in ("access_token", "refresh_token"):
        if isinstance(tokens.get(key), str):
            sealed = seal(tokens[key])
            if len(sealed) <= 255:  # the seed's columns; a longer token is not kept at all
                out[key] = sealed
    if isinstance(tokens.get("expires_in"), int):
        out["expires_at"] = timezone.now() + timedelta(seconds=tokens["expires_in"])
    return out


def _identity(claims: dict[str, Any]) -> UserOAuth | None:
    """The identity of (iss, sub), compared exactly here too: a database whose collation
    ignored case must not make "Alice" sign in as "alice" (migration 0003 fixes MySQL's)."""
    for link in UserOAuth.objects.select_related("user").filter(issuer=claims["iss"], provider_uid=claims["sub"]):
        if link.issuer == claims["iss"] and link.provider_uid == claims["sub"]:
            return link
    return None


def _refused(*, provider: OAuthProvider, reason: str, user: User | None) -> None:
    """A refused external sign-in is a `login.failed` like any other door's (the account it
    aimed at, when there is one); codes and tokens never reach the event."""
    with transaction.atomic():
        event_record(action=Action.LOGIN_FAILED, actor=Actor.anonymous(),
                     result=Result.DENIED if user is not None else Result.FAILURE,
                     subject_user_id=user.pk if user else None, tenant_id=user.tenant_id if user else None,
                     metadata={"method": f"oauth:{provider.name}", "channel": signin.API.name, "reason": reason})


def identity_sign_in(*, provider_name: str, code: str, state: str, iss: str | None = None) -> signin.Signed:
    """The callback: the provider's subject signs in its user (made on first sight) through the
    one sign-in flow, as the first factor `oauth:<provider>`."""
    provider = _enabled(provider_name)
    try:
        result = flow_finish(provider_name=provider.name, code=code, state=state, iss=iss)
    except (OAuthStateInvalid, OAuthFailed) as exc:
        _refused(provider=provider, reason=exc.code, user=None)
        raise
    claims = result["claims"]
    link = _identity(claims)
    if link is None:
        try:
            fields = _new_account_fields(provider, _profile(claims, result["userinfo"]))
        except AccountExists:
            _refused(provider=provider, reason=AccountExists.code, user=None)
            raise
        try:
            with transaction.atomic():
                user = account_services.user_create(**fields, actor=Actor.anonymous())
                link = UserOAuth.objects.create(user=user, provider=provider.name, issuer=claims["iss"],
                                                provider_uid=claims["sub"], **_tokens(provider, result["tokens"]))
                event_record(action=Action.IDENTITY_BOUND, actor=Actor.user(user.pk), subject_user_id=user.pk,
                             tenant_id=user.tenant_id, metadata={"provider": provider.name, "new_user": True})
        except IntegrityError as exc:  # the same identity's first sign-in, twice at once
            raise OAuthFailed() from exc
        user = User.objects.get(pk=user.pk)
    else:
        user = link.user
        if provider.store_tokens:
            UserOAuth.objects.filter(pk=link.pk).update(**_tokens(provider, result["tokens"]))
    if user.status != User.Status.ACTIVE:
        _refused(provider=provider, reason=AccountDisabled.code, user=user)
        raise AccountDisabled()
    return signin.first_factor_passed(user=user, method=f"oauth:{provider.name}", amr=["fed"], channel=signin.API)


def identity_bind(*, provider_name: str, code: str, state: str, user_id: int, iss: str | None = None) -> UserOAuth:
    """POST /v1/oauth/{provider}/bind: the state must have been started by this user (with
    their Bearer token); the provider's subject is bound to them unless another account holds
    it. Binding one already theirs changes nothing."""
    provider = _enabled(provider_name)
    result = flow_finish(provider_name=provider.name, code=code, state=state, iss=iss, user_id=user_id)
    claims = result["claims"]
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, status=User.Status.ACTIVE).first()
        if user is None:
            raise AccountDisabled()
        link = _identity(claims)
        if link is not None:
            if link.user_id != user_id:
                raise IdentityAlreadyBound()
            return link
        try:
            with transaction.atomic():
                link = UserOAuth.objects.create(user_id=user_id, provider=provider.name, issuer=claims["iss"],
                                                provider_uid=claims["sub"], **_tokens(provider, result["tokens"]))
        except IntegrityError as exc:  # bound elsewhere a moment ago
            raise IdentityAlreadyBound() from exc
        event_record(action=Action.IDENTITY_BOUND, actor=Actor.user(user_id), subject_user_id=user_id,
                     tenant_id=user.tenant_id, metadata={"provider": provider.name, "new_user": False})
    return link


def _other_ways_in(user: User, *, besides_provider: str) -> bool:
    """Can the account still sign in without this provider's identities: a password, another
    identity, or a verified address for one-time codes."""
    if user.has_usable_password():
        return True
    if UserOAuth.objects.filter(user_id=user.pk).exclude(provider=besides_provider).exists():
        return True
    return user.email_verified_at is not None or user.phone_verified_at is not None


@transaction.atomic
def identity_unbind(*, provider_name: str, user_id: int) -> int:
    """DELETE /v1/oauth/{provider}/bind (re-authenticated): the user's identities bound through
    this provider name go, unless they are the account's last way to sign in."""
    if not isinstance(provider_name, str) or not NAME_RE.match(provider_name):
        raise IdentityNotBound()
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise IdentityNotBound()
    links = UserOAuth.objects.filter(user_id=user_id, provider=provider_name)
    if not links.exists():
        raise IdentityNotBound()
    if not _other_ways_in(user, besides_provider=provider_name):
        raise LastLoginMethod()
    deleted, _ = links.delete()
    event_record(action=Action.IDENTITY_UNBOUND, actor=Actor.user(user_id), subject_user_id=user_id,
                 tenant_id=user.tenant_id, metadata={"provider": provider_name, "identities": deleted})
    return deleted


@transaction.atomic
def identities_forget(*, user_id: int) -> int:
    """A deleted account keeps no link to its external identities, nor their tokens."""
    deleted, _ = UserOAuth.objects.filter(user_id=user_id).delete()
    return deleted
