"""Federation's writes for users: the flows they start and finish, and the identities those
flows bind (docs/federation.md). The providers operators configure are federation.providers."""
from __future__ import annotations

import json
import logging
import time
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

from . import providers, social
from .conf import conf
from .errors import (
    AccountExists,
    IdentityAlreadyBound,
    IdentityMismatch,
    IdentityNotBound,
    LastLoginMethod,
    OAuthFailed,
    OAuthStateInvalid,
    RedirectUriRefused,
)
from .models import OAuthFlow, OAuthProvider, UserOAuth

log = logging.getLogger("custos.federation")


# ---- the flow: login (start) and callback (finish) ---------------------------------------------
# Kinds whose providers can be told to ask for the user's credentials again (OIDC Core 3.1.2.1
# `prompt=login`, `max_age=0`, and the `auth_time` claim that proves they did): a reauth flow
# there proves a fresh sign-in at the provider, not just a provider session still open.
FRESH_LOGIN_KINDS = ("oidc", "google")
REAUTH_PURPOSE = "reauth"
AUTH_TIME_LEEWAY = 60  # seconds of clock difference allowed between the provider and us


def flow_start(*, provider_name: str, redirect_uri: object, user_id: int | None = None,
               purpose: object = None) -> dict[str, str]:
    """The authorization URL for the front end, with its state; PKCE verifier, nonce and the
    state's binding (provider, redirect URI, user, purpose) stay here, sealed, in `oauth_flows`.
    `purpose="reauth"` (a signed-in user only) asks the provider for a fresh sign-in where it can."""
    provider = providers.enabled(provider_name)
    if not isinstance(redirect_uri, str) or redirect_uri not in conf().redirect_uris:
        raise RedirectUriRefused()
    if purpose not in (None, REAUTH_PURPOSE):
        raise ValidationFailed(fields={"purpose": [f"Only {REAUTH_PURPOSE!r}, or none."]})
    if purpose == REAUTH_PURPOSE and user_id is None:
        raise ValidationFailed(fields={"purpose": ["A re-authentication is started with the user's Bearer token."]})
    ip = context.current().ip
    if ip:  # each login writes a row: a flood from one client is refused, 429 with Retry-After
        throttle.counted_limit(f"oauth:login:ip:{ip}", conf().logins_per_ip_per_hour, 3600)
    flow: dict[str, Any] = {}
    settings = providers.backend_settings(provider)
    if purpose == REAUTH_PURPOSE:
        flow["purpose"], flow["started"] = REAUTH_PURPOSE, int(time.time())
        if provider.kind in FRESH_LOGIN_KINDS:
            settings["AUTH_EXTRA_ARGUMENTS"] = {"prompt": "login", "max_age": "0"}
    backend = social.backend_for(settings=settings, flow=flow, redirect_uri=redirect_uri,
                                 protocol=providers.protocol(provider))
    try:
        if providers.protocol(provider) in providers.OPENID_KINDS:
            providers.discovered_issuer(backend, provider)
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


def _flow_spend(*, state: str, provider: OAuthProvider, user_id: int | None,
                redirect_uri: str | None = None) -> tuple[OAuthFlow, dict[str, Any]]:
    """Take the flow and delete it, committed at once: a state serves one callback, whatever
    that callback's outcome. A front end that names its callback URL (`redirect_uri`) gets the
    state refused unless it was started for that URL: the one binding of a state to its front
    end where the provider's token request carries no redirect_uri to compare (WeChat)."""
    key = sha256_hex(state)
    with transaction.atomic():
        row = OAuthFlow.objects.filter(pk=key).first()
        if row is None or OAuthFlow.objects.filter(pk=key).delete()[0] != 1:
            raise OAuthStateInvalid()
    if (row.provider != provider.name or row.expires_at <= timezone.now() or row.user_id != user_id
            or (redirect_uri is not None and redirect_uri != row.redirect_uri)):
        raise OAuthStateInvalid()
    try:
        return row, json.loads(unseal(row.sealed))
    except ValueError as exc:
        raise OAuthStateInvalid() from exc


def flow_finish(*, provider_name: str, code: str, state: str, iss: str | None = None,
                user_id: int | None = None, apple_user: dict[str, Any] | None = None,
                redirect_uri: str | None = None) -> dict[str, Any]:
    """Spend the state, exchange the code (with the PKCE verifier), validate the ID token.
    Returns {"claims", "userinfo", "tokens", "aliases"?} for the provider's subject; `aliases`
    are older keys of the same identity (WeChat: the openid of an identity now known by its
    unionid). `apple_user` is Apple's `user` JSON (the name, at the first sign-in only)."""
    provider = providers.enabled(provider_name)
    row, flow = _flow_spend(state=state, provider=provider, user_id=user_id, redirect_uri=redirect_uri)
    if iss is not None and iss.rstrip("/") != provider.issuer:
        raise OAuthFailed()  # RFC 9207: the answer came from another issuer (a mix-up)
    data: dict[str, Any] = {"code": code, "state": state}
    if apple_user is not None:
        data["user"] = apple_user
    backend = social.backend_for(settings=providers.backend_settings(provider), flow=flow,
                                 redirect_uri=row.redirect_uri, data=data, protocol=providers.protocol(provider))
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
    if (not isinstance(sub, str) or not sub or len(sub) > 255 or not isinstance(iss_claim, str)
            or len(iss_claim) > 255):
        raise OAuthFailed()
    result["purpose"], result["started"] = flow.get("purpose"), flow.get("started")
    return result


def _fresh_login(provider: OAuthProvider, result: dict[str, Any]) -> bool:
    """Was this flow started as a re-authentication, and (where the provider can be asked) did
    the user sign in at the provider after it started?"""
    if result.get("purpose") != REAUTH_PURPOSE:
        return False
    if provider.kind not in FRESH_LOGIN_KINDS:
        return True  # the provider cannot be asked for a fresh sign-in (docs/federation.md)
    auth_time = result["claims"].get("auth_time")
    return (isinstance(auth_time, int) and not isinstance(auth_time, bool)
            and auth_time >= int(result.get("started") or 0) - AUTH_TIME_LEEWAY)


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
    return fields


MAX_TOKEN = 8192  # a provider's token longer than this is not a token: not kept


def _tokens(provider: OAuthProvider, tokens: dict[str, Any]) -> dict[str, Any]:
    """What `user_oauth` keeps of the provider's tokens: nothing unless the provider's
    store_tokens is on; then each one sealed, and when the access token expires."""
    if not provider.store_tokens:
        return {}
    out: dict[str, Any] = {}
    for key in ("access_token", "refresh_token"):
        if isinstance(tokens.get(key), str) and 0 < len(tokens[key]) <= MAX_TOKEN:
            out[key] = seal(tokens[key])
    expires_in = tokens.get("expires_in")
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and 0 < expires_in < 10**8:
        out["expires_at"] = timezone.now() + timedelta(seconds=expires_in)
    return out


def _identity_at(issuer: str, sub: str) -> UserOAuth | None:
    """The identity of (iss, sub), compared exactly here too: a database whose collation
    ignored case must not make "Alice" sign in as "alice" (migration 0003 fixes MySQL's)."""
    for link in UserOAuth.objects.select_related("user").filter(issuer=issuer, provider_uid=sub):
        if link.issuer == issuer and link.provider_uid == sub:
            return link
    return None


def _identity(result: dict[str, Any]) -> UserOAuth | None:
    """The identity the provider answered for, by its key; else by an older key of the same
    identity (`aliases`), which is then re-keyed: a WeChat identity first seen by its openid
    (no unionid yet) is the same account once WeChat names its unionid, and is known by the
    unionid from then on (docs/federation.md, "WeChat")."""
    claims = result["claims"]
    link = _identity_at(claims["iss"], claims["sub"])
    if link is not None:
        return link
    for issuer, sub in result.get("aliases") or ():
        link = _identity_at(issuer, sub)
        if link is not None:
            try:
                with transaction.atomic():
                    UserOAuth.objects.filter(pk=link.pk).update(issuer=claims["iss"], provider_uid=claims["sub"])
            except IntegrityError as exc:  # the new key was bound a moment ago
                raise OAuthFailed() from exc
            link.issuer, link.provider_uid = claims["iss"], claims["sub"]
            log.info("oauth identity re-keyed: link=%s to the provider's stable subject", link.pk)
            return link
    return None


def _aimed(exc: CustosError, user: User) -> CustosError:
    exc.user = user  # type: ignore[attr-defined]  # the account a refusal aimed at (signin's history)
    return exc


def identity_sign_in(*, provider_name: str, code: str, state: str, iss: str | None = None,
                     apple_user: dict[str, Any] | None = None, redirect_uri: str | None = None) -> signin.Signed:
    """The callback: the provider's subject signs in its user (made on first sight) through the
    one sign-in flow, as the first factor `oauth:<provider>`: its per-IP limits, its history, its
    `login.failed` for a refusal (sessions_app.signin.external_identity)."""
    provider = providers.enabled(provider_name)

    def proof() -> User:
        result = flow_finish(provider_name=provider.name, code=code, state=state, iss=iss, apple_user=apple_user,
                             redirect_uri=redirect_uri)
        return _user_of(provider, result)

    return signin.external_identity(method=f"oauth:{provider.name}", amr=["fed"], proof=proof)


def _user_of(provider: OAuthProvider, result: dict[str, Any]) -> User:
    """The account of the identity in `result`, made with it on first sight; an account that
    is not active is refused (naming it, for its login history)."""
    claims = result["claims"]
    link = _identity(result)
    if link is None:
        fields = _new_account_fields(provider, _profile(claims, result["userinfo"]))
        try:
            with transaction.atomic():
                user = account_services.user_create(**fields, external_identity=True, actor=Actor.anonymous())
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
        raise _aimed(AccountDisabled(), user)
    return user


def identity_bind(*, provider_name: str, code: str, state: str, user_id: int, iss: str | None = None,
                  redirect_uri: str | None = None) -> UserOAuth:
    """POST /v1/oauth/{provider}/bind: the state must have been started by this user (with
    their Bearer token); the provider's subject is bound to them unless another account holds
    it. Binding one already theirs changes nothing."""
    provider = providers.enabled(provider_name)
    result = flow_finish(provider_name=provider.name, code=code, state=state, iss=iss, user_id=user_id,
                         redirect_uri=redirect_uri)
    claims = result["claims"]
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, status=User.Status.ACTIVE).first()
        if user is None:
            raise AccountDisabled()
        link = _identity(result)
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


def identity_reauth(*, provider_name: str, code: str, state: str, user_id: int, session_id: str | None,
                    iss: str | None = None, redirect_uri: str | None = None) -> str:
    """POST /v1/oauth/{provider}/reauth: re-authentication for an account that may have no
    password. The state must have been started by this user (their Bearer at login), and the
    provider must answer for an identity already bound to them; the answer is a reauth token
    (method `oauth:<provider>`) bound to the caller's session, like POST /v1/auth/reauth's.
    Failures are `reauth.failed` and spend the account's sign-in allowance, as a wrong
    password at re-authentication does; a success records no event, as there."""
    provider = providers.enabled(provider_name)
    method = f"oauth:{provider.name}"
    guard = throttle.account_guard(user_id, context.current().ip)
    guard.begin()
    try:
        result = flow_finish(provider_name=provider.name, code=code, state=state, iss=iss, user_id=user_id,
                             redirect_uri=redirect_uri)
        if not _fresh_login(provider, result):
            # a flow not started for re-authentication, or a provider that answered from an
            # old session although asked for a fresh sign-in (max_age=0)
            raise OAuthStateInvalid() if result.get("purpose") != REAUTH_PURPOSE else OAuthFailed()
        link = _identity(result)
        if link is None or link.user_id != user_id:
            raise IdentityMismatch()
        if link.user.status != User.Status.ACTIVE:
            raise AccountDisabled()
    except (OAuthStateInvalid, OAuthFailed, IdentityMismatch, AccountDisabled) as exc:
        count = guard.failed()
        with transaction.atomic():
            event_record(action=Action.REAUTH_FAILED, actor=Actor.user(user_id), result=Result.FAILURE,
                         subject_user_id=user_id, metadata={"method": method, "reason": exc.code,
                                                            "consecutive": count})
        raise
    guard.succeeded()
    if provider.store_tokens:
        UserOAuth.objects.filter(pk=link.pk).update(**_tokens(provider, result["tokens"]))
    return account_services.reauth_token_issue(user_id=user_id, session_id=session_id, method=method)


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
    if not isinstance(provider_name, str) or not providers.NAME_RE.match(provider_name):
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
def identity_unbind_by_staff(*, user_id: int, identity_id: int, actor: Actor) -> str:
    """Staff unbind one external identity of an account (a hijacked or mistaken link), audited with
    the staff member as actor. As for the user, never the account's last way to sign in. Returns
    the provider's name."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    link = UserOAuth.objects.filter(pk=identity_id, user_id=user_id).first() if user is not None else None
    if link is None:
        raise IdentityNotBound("No such identity of this user.")
    others = UserOAuth.objects.filter(user_id=user_id).exclude(pk=link.pk).exists()
    if not others and not _other_ways_in(user, besides_provider=link.provider):
        raise LastLoginMethod()
    link.delete()
    event_record(action=Action.IDENTITY_UNBOUND, actor=actor, subject_user_id=user_id, tenant_id=user.tenant_id,
                 metadata={"provider": link.provider, "identities": 1, "by": "staff"})
    return link.provider


@transaction.atomic
def identities_forget(*, user_id: int) -> int:
    """A deleted account keeps no link to its external identities, nor their tokens."""
    deleted, _ = UserOAuth.objects.filter(user_id=user_id).delete()
    return deleted
