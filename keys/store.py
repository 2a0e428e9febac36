"""Where private keys live. The filesystem store keeps one PEM per key, mode 0600, in a 0700
directory; a KMS-backed store would implement the same two methods."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization


class FilesystemKeyStore:
    def __init__(self, key_dir: str) -> None:
        self.dir = Path(key_dir)

    def _path(self, kid: str) -> Path:
        if not kid or "/" in kid or kid.startswith("."):
            raise ValueError("bad kid")
        return self.dir / f"{kid}.pem"

    def put(self, kid: str, private_key) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
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
