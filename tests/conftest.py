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


def pytest_sessionstart(session):  # noqa: ANN001
    """With CUSTOS_TEST_SERVICES=1 a missing service fails the run instead of skipping tests."""
    if not SERVICES:
        return
    missing = [name for name, port in (("MariaDB", 3306), ("Redis", 6379), ("RabbitMQ", 5672))
               if not _reachable("127.0.0.1", port)]
    if missing:
        pytest.exit(f"CUSTOS_TEST_SERVICES=1 but not reachable: {', '.join(missing)}", returncode=3)


def pytest_report_header(config):  # noqa: ANN001
    return [f"custos database: {settings.DATABASES['default']['ENGINE']}, "
            f"cache: {settings.CACHES['default']['BACKEND']}"]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, settings):  # noqa: ANN001
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
def signing_key(db):  # noqa: ANN001
    from audit.services import Actor
    from keys import services

    return services.key_ensure(actor=Actor.system("test"))


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):  # noqa: ANN001
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


def grant(user, role: str, tenant_id: int | None = None) -> None:  # noqa: ANN001
    """Give a user a role (through the service, as an operator would)."""
    from audit.services import Actor
    from authz.services import platform_roles_seed, subject_role_grant
    from authz.subjects import tenant_domain, user_subject

    platform_roles_seed()  # transactional tests flush what the seeding migration wrote
    subject_role_grant(subject=user_subject(user.pk), role=role, domain=tenant_domain(tenant_id),
                       actor=Actor.system("test"), subject_user_id=user.pk)
