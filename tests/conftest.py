from __future__ import annotations

import os
import socket

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

SERVICES = os.environ.get("CUSTOS_TEST_SERVICES") == "1"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    """With CUSTOS_TEST_SERVICES=1 a missing service fails the run instead of skipping tests."""
    if not SERVICES:
        return
    missing = [name for name, port in (("MariaDB", 3306), ("Redis", 6379), ("RabbitMQ", 5672))
               if not _reachable("127.0.0.1", port)]
    if missing:
        pytest.exit(f"CUSTOS_TEST_SERVICES=1 but not reachable: {', '.join(missing)}", returncode=3)


def pytest_report_header(config):
    return [f"custos database: {settings.DATABASES['default']['ENGINE']}, "
            f"cache: {settings.CACHES['default']['BACKEND']}"]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, settings):
    """Each test gets its own key directory and starts with empty per-process caches."""
    from django.core.cache import cache

    from authz.authentication import forget_cached_keys
    from authz.enforcer import reset_enforcer
    from keys.keyring import reset_keyring
    from sessions_app.revstate import reset_state

    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "KEY_DIR": str(tmp_path_factory.mktemp("keys"))}
    reset_keyring()
    reset_state()
    reset_enforcer()
    forget_cached_keys()
    cache.clear()
    yield
    reset_keyring()
    reset_state()
    reset_enforcer()


@pytest.fixture
def signing_key(db):
    from audit.services import Actor
    from keys import services

    return services.key_ensure(actor=Actor.system("test"))


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password() -> str:
    return PASSWORD


def login(api: APIClient, username: str, password: str = PASSWORD, **headers: str) -> dict:
    response = api.post("/v1/auth/login", {"username": username, "password": password}, format="json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def grant(user, role: str, tenant_id: int | None = None) -> None:
    """Give a user a role (through the service, as an operator would)."""
    from audit.services import Actor
    from authz.services import platform_roles_seed, subject_role_grant
    from authz.subjects import tenant_domain, user_subject

    platform_roles_seed()  # transactional tests flush what the seeding migration wrote
    subject_role_grant(subject=user_subject(user.pk), role=role, domain=tenant_domain(tenant_id),
                       actor=Actor.system("test"), subject_user_id=user.pk)


# ---- no secret in the trail, suite-wide ------------------------------------------------------
_SECRETS: set[str] = set()  # passwords, tokens, keys: never anywhere in an event
_CODES: set[str] = set()  # 6-digit codes: never in an event's metadata


@pytest.fixture(autouse=True)
def _audit_trail_holds_no_secrets(request, monkeypatch, _django_db_helper):
    """Every secret the suite hands out or types in is remembered, and after each test every
    audit event written so far is searched for all of them."""
    from accounts import services as account_services
    from accounts.security import mfa
    from accounts.services import otp, passwords, reauth
    from authz import services as authz_services
    from sessions_app.services import TokenPair

    def keep(value: object, into: set[str] = _SECRETS, minimum: int = 8) -> None:
        if isinstance(value, str) and len(value) >= minimum:
            into.add(value)

    real_as_response = TokenPair.as_response
    monkeypatch.setattr(TokenPair, "as_response", lambda self: (keep(self.access_token),
                                                                keep(self.refresh_token), real_as_response(self))[2])
    real_challenge = mfa.challenge_issue
    monkeypatch.setattr(mfa, "challenge_issue",
                        lambda **kw: (lambda out: (keep(out["mfa_token"]), out)[1])(real_challenge(**kw)))
    real_code_hash = otp._code_hash
    monkeypatch.setattr(otp, "_code_hash", lambda key, code: (keep(code, _CODES, 6), real_code_hash(key, code))[1])
    real_reset_hash = passwords.sha256_hex
    monkeypatch.setattr(passwords, "sha256_hex", lambda token: (keep(token), real_reset_hash(token))[1])
    real_check = account_services.credentials_check
    monkeypatch.setattr(account_services, "credentials_check",
                        lambda **kw: (keep(kw.get("password")), real_check(**kw))[1])
    real_key = authz_services.service_key_create
    monkeypatch.setattr(authz_services, "service_key_create",
                        lambda **kw: (lambda out: (keep(out[1]), keep(out[1].split(".", 1)[1]), out)[2])(
                            real_key(**kw)))
    real_reauth = reauth.reauth_token_issue
    monkeypatch.setattr(reauth, "reauth_token_issue", lambda **kw: (lambda t: (keep(t), t)[1])(real_reauth(**kw)))
    keep(PASSWORD)
    yield
    if request.node.get_closest_marker("django_db") is None:
        return
    import json

    from audit.models import AuditEvent

    rows = list(AuditEvent.objects.values())
    whole = json.dumps(rows, default=str)
    leaked = [s for s in _SECRETS if s in whole]
    assert not leaked, f"secrets in the audit trail: {[s[:6] + '…' for s in leaked]}"
    metadata = json.dumps([r["metadata"] for r in rows], default=str)
    leaked_codes = [c for c in _CODES if c in metadata]
    assert not leaked_codes, "one-time codes in audit metadata"
