from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from custos.conf import cached_conf


@dataclass(frozen=True)
class KeysSettings:
    key_dir: str
    algorithm: str
    publish_delay: int
    jwks_max_age: int
    keyring_refresh: int
    rsa_bits: int = 3072
    key_store: str = "keys.store.FilesystemKeyStore"
    key_store_wrapper: str = "keys.store.LocalMasterKey"
    key_store_master_key: str = ""
    rotate_every: int = 90 * 24 * 3600  # seconds; 0: no scheduled rotation


@cached_conf
def conf() -> KeysSettings:
    raw = settings.CUSTOS_KEYS
    return KeysSettings(
        key_dir=raw["KEY_DIR"], algorithm=raw["ALGORITHM"], publish_delay=raw["PUBLISH_DELAY"],
        jwks_max_age=raw["JWKS_MAX_AGE"], keyring_refresh=raw["KEYRING_REFRESH"],
        rsa_bits=raw.get("RSA_BITS", 3072),
        key_store=raw.get("STORE", KeysSettings.key_store),
        key_store_wrapper=raw.get("STORE_WRAPPER", KeysSettings.key_store_wrapper),
        key_store_master_key=raw.get("STORE_MASTER_KEY", ""),
        rotate_every=raw.get("ROTATE_EVERY", KeysSettings.rotate_every),
    )


# Algorithms Custos signs with and accepts. Anything else in a token header (none, HS*) is
# refused before a key is even looked up.
ALLOWED_ALGORITHMS = ("ES256", "RS256")
