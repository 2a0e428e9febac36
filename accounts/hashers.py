from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class PinnedArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with parameters pinned in settings (CUSTOS_ARGON2).

    Django's must_update() compares these with the stored hash, so changing a parameter
    makes the next successful login rehash."""

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
