from django.db import models


class CasbinRule(models.Model):
    """Casbin's own table (seed `casbin_rule`): every role and permission lives here."""

    id = models.BigAutoField(primary_key=True)
    ptype = models.CharField(max_length=32)
    v0 = models.CharField(max_length=255, null=True, blank=True)
    v1 = models.CharField(max_length=255, null=True, blank=True)
    v2 = models.CharField(max_length=255, null=True, blank=True)
    v3 = models.CharField(max_length=255, null=True, blank=True)
    v4 = models.CharField(max_length=255, null=True, blank=True)
    v5 = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "casbin_rule"
        indexes = [
            # g rules are looked up by (subject, domain); p rules by (role, domain).
            models.Index(fields=["ptype", "v0", "v1"], name="casbin_rule_p_v0_v1"),
            models.Index(fields=["ptype", "v2"], name="casbin_rule_p_v2"),
        ]

    def __str__(self) -> str:
        return ", ".join(v for v in (self.ptype, self.v0, self.v1, self.v2, self.v3) if v)
