from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

try:  # libsodium, through PyNaCl: the same Argon2id, with SIMD kernels picked at run time
    from nacl import exceptions as _nacl_exceptions
    from nacl.pwhash import argon2id as _sodium_argon2id
except ImportError:  # pragma: no cover - PyNaCl is a dependency; this keeps a broken install verifying
    _sodium_argon2id = None

# What libsodium verifies: Argon2id, version 0x13, one lane, memory within its bounds. Anything
# else (argon2i, p > 1, an odd string) stays with argon2-cffi, which judges it as before.
_SODIUM_FORM = re.compile(r"\$argon2id\$v=19\$m=(\d{1,9}),t=(\d{1,4}),p=1\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}")
_SODIUM_MEMORY_KIB = (8, 4 * 1024 * 1024)  # crypto_pwhash_argon2id_MEMLIMIT_MIN/… in KiB, capped at 4 GiB


class PinnedArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with parameters pinned in settings (CUSTOS_ARGON2).

    Django's must_update() compares these with the stored hash, so changing a parameter
    makes the next successful login rehash.

    Verification goes through libsodium where it can: the same algorithm, parameters and
    PHC string (argon2-cffi and libsodium read each other's hashes), computed with AVX2 where
    the CPU has it. On this project's bench machine that is 10-15% less CPU per check than
    argon2-cffi's portable build, and the check is nearly all of a sign-in's cost. An attacker's
    cost is unchanged: it is set by the parameters, and cracking rigs use tuned code anyway."""

    algorithm = "argon2"

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.CUSTOS_ARGON2["TIME_COST"]

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.CUSTOS_ARGON2["MEMORY_COST"]

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.CUSTOS_ARGON2["PARALLELISM"]

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, rest = encoded.split("$", 1)
        assert algorithm == self.algorithm  # noqa: S101 - as Django's own hashers: its caller chose this hasher
        form = _SODIUM_FORM.fullmatch("$" + rest) if _sodium_argon2id is not None else None
        if form is None or not _SODIUM_MEMORY_KIB[0] <= int(form.group(1)) <= _SODIUM_MEMORY_KIB[1] \
                or int(form.group(2)) < 1:
            return super().verify(password, encoded)
        try:
            # one computation whatever the outcome: a wrong password never falls through to
            # a second check (that would make failures measurably slower than successes)
            return _sodium_argon2id.verify(("$" + rest).encode("ascii"), password.encode("utf-8"))
        except _nacl_exceptions.InvalidkeyError:
            return False
