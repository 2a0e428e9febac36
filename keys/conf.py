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


@cached_conf
def conf() -> KeysSettings:
    raw = settings.CUSTOS_KEYS
    return KeysSettings(
        key_dir=raw["KEY_DIR"], algorithm=raw["ALGORITHM"], publish_delay=raw["PUBLISH_DELAY"],
        jwks_max_age=raw["JWKS_MAX_AGE"], keyring_refresh=raw["KEYRING_REFRESH"],
        rsa_bits=raw.get("RSA_BITS", 3072),
    )


# Algorithms Custos signs with and accepts. Anything else in a token header (none, HS*) is
# refused before a key is even looked up.
ALLOWED_ALGORITHMS = ("ES256", "RS256")
