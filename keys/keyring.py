"""The per-process key ring: loaded key objects, cached, refreshed from `jwk_keys`.

Loading a PEM costs up to ~27 ms (RSA), so key objects are built once per key and process.
The ring re-reads the table every KEYRING_REFRESH seconds (one query), and at once (at most
once a second) when a token names a kid it does not know, so a key staged by another
process is picked up without a restart."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from django.utils import timezone

from .conf import ALLOWED_ALGORITHMS, conf
from .models import JwkKey
from .store import KeyStore, key_store


@dataclass
class LoadedKey:
    kid: str
    alg: str
    public_jwk: dict[str, Any]
    public_key: Any
    activates_at: datetime
    retired_at: datetime | None
    verify_until: datetime | None
    private_key: Any = None
    algorithm: Any = None  # PyJWT's algorithm object for alg (verify/sign)

    def __post_init__(self) -> None:
        if self.algorithm is None:
            self.algorithm = jwt.get_algorithm_by_name(self.alg)

    def signs_at(self, now: datetime) -> bool:
        return self.activates_at <= now and (self.retired_at is None or now < self.retired_at)

    def verifies_at(self, now: datetime) -> bool:
        return self.verify_until is None or now < self.verify_until


def public_key_from_jwk(jwk: dict[str, Any], alg: str) -> Any:
    algo = jwt.get_algorithm_by_name(alg)
    return algo.from_jwk(json.dumps(jwk))


@dataclass
class KeyRing:
    keys: dict[str, LoadedKey] = field(default_factory=dict)
    loaded_at: float = 0.0
    last_forced: float = 0.0
    version: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _jwks_cache: tuple[str, bytes, str] | None = None

    def _store(self) -> KeyStore:
        return key_store()

    def reload(self) -> None:
        rows = list(JwkKey.objects.filter(active=True).order_by("activates_at", "kid"))
        fresh: dict[str, LoadedKey] = {}
        for row in rows:
            if row.alg not in ALLOWED_ALGORITHMS:
                continue
            old = self.keys.get(row.kid)
            if old is not None:
                old.retired_at, old.verify_until, old.activates_at = row.retired_at, row.verify_until, row.activates_at
                fresh[row.kid] = old
                continue
            fresh[row.kid] = LoadedKey(
                kid=row.kid, alg=row.alg, public_jwk=row.public_jwk,
                public_key=public_key_from_jwk(row.public_jwk, row.alg),
                activates_at=row.activates_at, retired_at=row.retired_at, verify_until=row.verify_until,
            )
        self.keys = fresh
        self.version = hashlib.sha256(json.dumps(
            [(k.kid, str(k.activates_at), str(k.retired_at), str(k.verify_until)) for k in fresh.values()]
        ).encode()).hexdigest()[:16]
        self.loaded_at = time.monotonic()

    def _ensure_fresh(self) -> None:
        if time.monotonic() - self.loaded_at > conf().keyring_refresh:
            with self._lock:
                if time.monotonic() - self.loaded_at > conf().keyring_refresh:
                    self.reload()

    def signing_key(self) -> LoadedKey | None:
        self._ensure_fresh()
        now = timezone.now()
        candidates = [k for k in self.keys.values() if k.signs_at(now)]
        if not candidates:
            return None
        key = max(candidates, key=lambda k: k.activates_at)
        if key.private_key is None:
            key.private_key = self._store().get(key.kid)
            if key.private_key is None:
                return None  # metadata without a private half (another host's key): cannot sign here
        return key

    def verifying_key(self, kid: str) -> LoadedKey | None:
        self._ensure_fresh()
        key = self.keys.get(kid)
        if key is None:
            now = time.monotonic()
            if now - self.last_forced >= 1.0:  # unknown kid: re-read, but never more than once a second
                with self._lock:
                    self.last_forced = now
                    self.reload()
                key = self.keys.get(kid)
        if key is None or not key.verifies_at(timezone.now()):
            return None
        return key

    def published(self) -> list[LoadedKey]:
        self._ensure_fresh()
        now = timezone.now()
        return [k for k in self.keys.values() if k.verifies_at(now)]

    def jwks_document(self) -> tuple[bytes, str]:
        """The JWKS body and its ETag, rendered once per key-ring version."""
        self._ensure_fresh()
        published = self.published()
        marker = self.version + ":" + ",".join(k.kid for k in published)
        cached = self._jwks_cache
        if cached is None or cached[0] != marker:
            doc = {"keys": [{**k.public_jwk, "kid": k.kid, "alg": k.alg, "use": "sig"} for k in published]}
            body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            cached = self._jwks_cache = (marker, body, etag)
        return cached[1], cached[2]


_ring = KeyRing()


def keyring() -> KeyRing:
    return _ring


def reset_keyring() -> None:
    """Forget every cached key (tests, and after a rotation in this process)."""
    global _ring
    _ring = KeyRing()
    from . import backends

    backends._backend = None  # and the signatures it remembered
