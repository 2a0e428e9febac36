"""Argon2id with pinned parameters, rehash on parameter change, legacy hashes upgraded."""
from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from accounts.models import User
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(user: User) -> str:
    return User.objects.values_list("password", flat=True).get(pk=user.pk)


def test_new_hashes_use_pinned_argon2id(user):  # noqa: ANN001
    assert _stored(user).startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_parameter_change_rehashes_on_login(api, signing_key, settings):  # noqa: ANN001
    user = UserFactory()
    settings.CUSTOS_ARGON2 = {"TIME_COST": 3, "MEMORY_COST": 12288, "PARALLELISM": 1}
    login(api, user.username)
    assert "m=12288,t=3,p=1" in _stored(user)
    login(api, user.username)  # and the new hash still verifies


@pytest.mark.parametrize("hasher", ["bcrypt_sha256", "pbkdf2_sha256"])
def test_legacy_hashes_verify_and_upgrade(api, signing_key, hasher):  # noqa: ANN001
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher=hasher))
    assert _stored(user).startswith(hasher)
    r = api.post("/v1/auth/login", {"username": user.username, "password": "not it"}, format="json")
    assert r.status_code == 401 and _stored(user).startswith(hasher)  # a wrong password changes nothing
    login(api, user.username)
    assert _stored(user).startswith("argon2$argon2id$")


def test_hash_verify_does_not_rehash_when_current(api, signing_key):  # noqa: ANN001
    user = UserFactory()
    before = _stored(user)
    login(api, user.username)
    assert _stored(user) == before
