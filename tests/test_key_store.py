"""The pluggable key store and the scheduled rotation (issue 18): private keys envelope-encrypted
in the database so nodes need no shared volume; one rotation even from two beats at once."""
import threading
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.utils import timezone

from audit.services import Actor
from keys import services
from keys.keyring import keyring, reset_keyring
from keys.models import JwkKey, SealedPrivateKey
from keys.store import DatabaseKeyStore, KeyStoreMisconfigured, LocalMasterKey, key_store

MASTER = "a master key from the environment, 32+ characters long"


@pytest.fixture
def db_store(settings):
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "STORE": "keys.store.DatabaseKeyStore",
                            "STORE_MASTER_KEY": MASTER}
    reset_keyring()
    yield
    reset_keyring()


@pytest.mark.django_db
def test_keys_live_sealed_in_the_database_and_sign(db_store, settings, tmp_path):
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "KEY_DIR": str(tmp_path / "unused")}
    assert isinstance(key_store(), DatabaseKeyStore)
    key = services.key_ensure(actor=Actor.system("test"))
    row = SealedPrivateKey.objects.get(kid=key.kid)
    assert "PRIVATE KEY" not in row.ciphertext and "PRIVATE KEY" not in row.wrapped_data_key
    assert not (tmp_path / "unused").exists()  # nothing on disk
    # a token signed with it verifies against the published key
    signer = keyring().signing_key()
    assert signer is not None and signer.kid == key.kid
    token = jwt.encode({"sub": "1"}, signer.private_key, algorithm=signer.alg, headers={"kid": signer.kid})
    assert jwt.decode(token, signer.public_key, algorithms=[signer.alg])["sub"] == "1"
    # a node with the wrong master key cannot use it, and says why
    with pytest.raises(KeyStoreMisconfigured):
        DatabaseKeyStore(LocalMasterKey("another master key, also 32+ characters")).get(key.kid)


@pytest.mark.django_db
def test_the_database_store_needs_a_master_key(settings):
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "STORE": "keys.store.DatabaseKeyStore", "STORE_MASTER_KEY": ""}
    with pytest.raises(KeyStoreMisconfigured, match="CUSTOS_KEY_STORE_MASTER_KEY"):
        key_store()


@pytest.mark.django_db
def test_pruning_drops_the_sealed_private_key(db_store, django_capture_on_commit_callbacks):
    key = services.key_ensure(actor=Actor.system("test"))
    JwkKey.objects.filter(kid=key.kid).update(verify_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.keys_prune(actor=Actor.system("test")) == [key.kid]
    assert not SealedPrivateKey.objects.filter(kid=key.kid).exists()


@pytest.mark.django_db
def test_rotation_is_due_after_rotate_every(signing_key, settings):
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "ROTATE_EVERY": 90 * 86400}
    assert services.keys_rotate_if_due(actor=Actor.system("beat")) is None  # the key is new
    JwkKey.objects.update(created_at=timezone.now() - timedelta(days=91))
    staged = services.keys_rotate_if_due(actor=Actor.system("beat"))
    assert staged is not None and staged.activates_at > timezone.now()  # after the publish delay, as rotate_keys
    assert services.keys_rotate_if_due(actor=Actor.system("beat")) is None  # and not again
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "ROTATE_EVERY": 0}
    JwkKey.objects.update(created_at=timezone.now() - timedelta(days=900))
    assert services.keys_rotate_if_due(actor=Actor.system("beat")) is None  # 0: off


def test_the_rotation_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "keys.tasks.rotate_if_due" in tasks


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_rotate_once(signing_key, settings):
    """Two beats by mistake: both run the job at the same moment; one key is staged."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serializes writers; the race is MariaDB's (CUSTOS_TEST_SERVICES=1 runs it)")
    settings.CUSTOS_KEYS = {**settings.CUSTOS_KEYS, "ROTATE_EVERY": 86400}
    JwkKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    before = JwkKey.objects.count()
    barrier, results, errors = threading.Barrier(2), [], []

    def beat() -> None:
        from django.db import connection as conn

        try:
            barrier.wait(timeout=10)
            results.append(services.keys_rotate_if_due(actor=Actor.system("beat")))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert JwkKey.objects.count() == before + 1
    assert sum(r is not None for r in results) == 1
