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


def test_new_hashes_use_pinned_argon2id(user):
    assert _stored(user).startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_parameter_change_rehashes_on_login(api, signing_key, settings):
    user = UserFactory()
    settings.CUSTOS_ARGON2 = {"TIME_COST": 3, "MEMORY_COST": 12288, "PARALLELISM": 1}
    login(api, user.username)
    assert "m=12288,t=3,p=1" in _stored(user)
    login(api, user.username)  # and the new hash still verifies


@pytest.mark.parametrize("hasher", ["bcrypt_sha256", "pbkdf2_sha256"])
def test_legacy_hashes_verify_and_upgrade(api, signing_key, hasher):
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher=hasher))
    assert _stored(user).startswith(hasher)
    r = api.post("/v1/auth/login", {"username": user.username, "password": "not it"}, format="json")
    assert r.status_code == 401 and _stored(user).startswith(hasher)  # a wrong password changes nothing
    login(api, user.username)
    assert _stored(user).startswith("argon2$argon2id$")


def test_hash_verify_does_not_rehash_when_current(api, signing_key):
    user = UserFactory()
    before = _stored(user)
    login(api, user.username)
    assert _stored(user) == before


def _hashers_seen(monkeypatch) -> list[str]:
    """Which library judged each check: libsodium (through PyNaCl) or argon2-cffi."""
    import argon2

    from accounts import hashers

    seen: list[str] = []
    sodium_verify, cffi_verify = hashers._sodium_argon2id.verify, argon2.PasswordHasher.verify
    monkeypatch.setattr(hashers._sodium_argon2id, "verify",
                        lambda *a: seen.append("sodium") or sodium_verify(*a))
    monkeypatch.setattr(argon2.PasswordHasher, "verify",
                        lambda self, *a: seen.append("cffi") or cffi_verify(self, *a))
    return seen


@pytest.mark.parametrize("password", [PASSWORD, "", "pässwörd ✓", "x" * 4096])
def test_libsodium_and_argon2_cffi_agree_on_pinned_hashes(password, monkeypatch):
    """The pinned form is checked by libsodium; hashes either library made verify through the
    other, and a wrong password or a changed digest fails, in one computation each."""
    import argon2
    from django.contrib.auth.hashers import get_hasher
    from nacl.pwhash import argon2id

    hasher = get_hasher("default")
    seen = _hashers_seen(monkeypatch)
    ours = make_password(password)
    by_cffi = "argon2" + argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(password)
    by_sodium = "argon2" + argon2id.str(password.encode(), opslimit=2, memlimit=19456 * 1024).decode()
    for encoded in (ours, by_cffi, by_sodium):
        seen.clear()
        assert hasher.verify(password, encoded) and seen == ["sodium"]
        seen.clear()
        assert not hasher.verify(password + "!", encoded) and seen == ["sodium"]
        tampered = encoded[:-2] + ("AA" if not encoded.endswith("AA") else "BB")
        assert not hasher.verify(password, tampered)
        assert argon2.PasswordHasher().verify("$" + encoded.split("$", 1)[1], password)


@pytest.mark.parametrize("params", [dict(parallelism=2), dict(type="I")])
def test_forms_libsodium_cannot_take_stay_with_argon2_cffi(params, monkeypatch):
    import argon2
    from django.contrib.auth.hashers import get_hasher

    kind = argon2.Type.I if params.get("type") == "I" else argon2.Type.ID
    encoded = "argon2" + argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=params.get("parallelism", 1),
                                               type=kind).hash(PASSWORD)
    seen = _hashers_seen(monkeypatch)
    assert get_hasher("default").verify(PASSWORD, encoded) and seen == ["cffi"]
    seen.clear()
    assert not get_hasher("default").verify("wrong", encoded) and seen == ["cffi"]
