from django.contrib.auth.hashers import Argon2PasswordHasher


class SameArgon2(Argon2PasswordHasher):
    """Custos's Argon2id parameters (OWASP: m=19 MiB, t=2, p=1), so login compares like with like."""

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
