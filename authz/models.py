from __future__ import annotations

from django.db import models

from custos.crypto import sha256_hex

RULE_FIELDS = ("v0", "v1", "v2", "v3", "v4", "v5")


def rule_key(ptype: str, values: list[str] | tuple[str, ...]) -> str:
    """A stable digest of a rule: the unique index on it refuses duplicates, even from two
    processes adding the same rule at once, without a 7-column key MySQL cannot index."""
    joined = "\x1f".join([ptype, *[v if v is not None else "" for v in values]])
    return sha256_hex(joined)


class CasbinRule(models.Model):
    """Casbin's own table (seed `casbin_rule`): every role and permission lives here.

    Domain sits in v1 for `p` rules and in v2 for `g` rules; the two indexes below make a
    tenant's rules one index range each."""

    id = models.BigAutoField(primary_key=True)
    ptype = models.CharField(max_length=32)
    v0 = models.CharField(max_length=255, null=True, blank=True)
    v1 = models.CharField(max_length=255, null=True, blank=True)
    v2 = models.CharField(max_length=255, null=True, blank=True)
    v3 = models.CharField(max_length=255, null=True, blank=True)
    v4 = models.CharField(max_length=255, null=True, blank=True)
    v5 = models.CharField(max_length=255, null=True, blank=True)
    rule_key = models.CharField(max_length=64, unique=True)

    class Meta:
        db_table = "casbin_rule"
        indexes = [
            models.Index(fields=["ptype", "v1"], name="casbin_rule_ptype_v1"),
            models.Index(fields=["ptype", "v2"], name="casbin_rule_ptype_v2"),
            models.Index(fields=["ptype", "v0"], name="casbin_rule_ptype_v0"),
        ]

    def __str__(self) -> str:
        return ", ".join([self.ptype, *self.values()])

    def values(self) -> list[str]:
        out = [getattr(self, f) for f in RULE_FIELDS]
        while out and out[-1] is None:
            out.pop()
        return out


class PolicyChange(models.Model):
    """Which domain's policy changed, written with the change: processes without a Redis
    watcher (the embedded default's several workers) poll it to reload that domain."""

    id = models.BigAutoField(primary_key=True)
    domain = models.CharField(max_length=255)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "authz_policy_changes"


class ServiceKey(models.Model):
    """A service's credential: `ApiKey <key_id>.<secret>`; only the secret's SHA-256 is kept
    (the secret is 256 random bits, so a slow hash adds nothing). What the service may do is
    Casbin policy on subject `svc:<name>`."""

    id = models.BigAutoField(primary_key=True)
    key_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "service_keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"


class Role(CasbinRule):
    """A console page, not a table: roles live as Casbin rules (a role is the subject of `p` rules
    and the target of `g` rules in one domain). This proxy gives the staff console an entry,
    "Roles" under Authz, and the permission names `authz.<action>_role` (action on
    `/admin/authz/role`); authz/admin/ replaces every admin view of it with its own."""

    class Meta:
        proxy = True
        verbose_name = "role"
        verbose_name_plural = "roles"


class Why(CasbinRule):
    """The console's "why" tool (authz/admin/): a proxy only so that the page is listed under
    Authz and has its own permission, `authz.use_why` (action `use` on `/admin/authz/why`)."""

    class Meta:
        proxy = True
        verbose_name = "why tool"
        verbose_name_plural = "why: explain a decision"
