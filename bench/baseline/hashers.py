import os

from django.contrib.auth.hashers import Argon2PasswordHasher

# "t,m,p"; bench.run sets it for its run at Django's default parameters
_T, _M, _P = (int(v) for v in os.environ.get("BASELINE_ARGON2", "2,19456,1").split(","))


class SameArgon2(Argon2PasswordHasher):
    """Custos's Argon2id parameters (OWASP: m=19 MiB, t=2, p=1), so login compares like with like."""

    time_cost = _T
    memory_cost = _M
    parallelism = _P
