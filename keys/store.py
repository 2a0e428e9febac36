"""Where private keys live (CUSTOS_KEY_STORE, a dotted path; docs/deploy.md, "Signing keys").

A store has three methods: put(kid, private_key), get(kid) -> private_key | None, delete(kid).
- FilesystemKeyStore (default): one PEM per key, mode 0600, in a 0700 directory
  (CUSTOS_KEY_DIR); nodes that sign need that directory shared (a volume).
- DatabaseKeyStore: envelope encryption in the `jwk_private_keys` table. Each key's PEM is sealed
  with a fresh data key; the data key is wrapped by a master key wrapper
  (CUSTOS_KEY_STORE_WRAPPER, default LocalMasterKey over CUSTOS_KEY_STORE_MASTER_KEY). A cloud
  KMS plugs in as another wrapper: a class with `name`, `wrap(bytes) -> bytes` and
  `unwrap(bytes) -> bytes` that calls the KMS's Encrypt and Decrypt (the master key never
  leaves the KMS; each signing process unwraps a data key once per key and caches the key)."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from django.utils.module_loading import import_string


class KeyStore(Protocol):
    def put(self, kid: str, private_key: Any) -> None: ...
    def get(self, kid: str) -> Any | None: ...
    def delete(self, kid: str) -> None: ...


def _pem(private_key: Any) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def key_store() -> KeyStore:
    """The configured store (a class built with no arguments: it reads its own settings)."""
    from .conf import conf

    return import_string(conf().key_store)()


class FilesystemKeyStore:
    def __init__(self, key_dir: str | None = None) -> None:
        if key_dir is None:
            from .conf import conf

            key_dir = conf().key_dir
        self.dir = Path(key_dir)

    def _path(self, kid: str) -> Path:
        if not kid or "/" in kid or kid.startswith("."):
            raise ValueError("bad kid")
        return self.dir / f"{kid}.pem"

    def put(self, kid: str, private_key) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        pem = _pem(private_key)
        fd = os.open(self._path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)

    def get(self, kid: str):
        try:
            data = self._path(kid).read_bytes()
        except FileNotFoundError:
            return None
        return serialization.load_pem_private_key(data, password=None)

    def delete(self, kid: str) -> None:
        try:
            self._path(kid).unlink()
        except FileNotFoundError:
            pass


class KeyStoreMisconfigured(RuntimeError):
    """The database store cannot work: no master key, or keys wrapped by another one."""


class LocalMasterKey:
    """The default wrapper: a master key from the environment (CUSTOS_KEY_STORE_MASTER_KEY, at
    least 32 characters; a Fernet key of its SHA-256 wraps the data keys)."""

    def __init__(self, secret: str | None = None) -> None:
        if secret is None:
            from .conf import conf

            secret = conf().key_store_master_key
        if not secret or len(secret) < 32:
            raise KeyStoreMisconfigured("CUSTOS_KEY_STORE_MASTER_KEY must be set (32 characters or more) "
                                        "for the database key store")
        digest = hashlib.sha256(secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        # names the master key without revealing it: a key wrapped by another one is told apart
        self.name = "local:" + hashlib.sha256(b"custos-key-store-id" + digest).hexdigest()[:16]

    def wrap(self, data_key: bytes) -> bytes:
        return self._fernet.encrypt(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        return self._fernet.decrypt(wrapped)


class DatabaseKeyStore:
    """Private keys in the database, envelope-encrypted (see the module's docstring)."""

    def __init__(self, wrapper: Any | None = None) -> None:
        if wrapper is None:
            from .conf import conf

            wrapper = import_string(conf().key_store_wrapper)()
        self.wrapper = wrapper

    def put(self, kid: str, private_key: Any) -> None:
        from .models import SealedPrivateKey

        data_key = Fernet.generate_key()
        SealedPrivateKey.objects.create(
            kid=kid, wrapper=self.wrapper.name,
            wrapped_data_key=self.wrapper.wrap(data_key).decode(),
            ciphertext=Fernet(data_key).encrypt(_pem(private_key)).decode())

    def get(self, kid: str) -> Any | None:
        from .models import SealedPrivateKey

        row = SealedPrivateKey.objects.filter(kid=kid).first()
        if row is None:
            return None
        if row.wrapper != self.wrapper.name:
            raise KeyStoreMisconfigured(f"key {kid} was wrapped by {row.wrapper}, not by the configured master key")
        try:
            pem = Fernet(self.wrapper.unwrap(row.wrapped_data_key.encode())).decrypt(row.ciphertext.encode())
        except InvalidToken as exc:
            raise KeyStoreMisconfigured(f"key {kid} cannot be unwrapped with the configured master key") from exc
        return serialization.load_pem_private_key(pem, password=None)

    def delete(self, kid: str) -> None:
        from .models import SealedPrivateKey

        SealedPrivateKey.objects.filter(kid=kid).delete()
