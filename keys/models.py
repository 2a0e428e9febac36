from __future__ import annotations

from django.db import models


class JwkKey(models.Model):
    """Public metadata of a signing key (seed table `jwk_keys`). The private half lives in the
    key store (var/keys/ by default), never in the database.

    Life: created (published) -> signs from `activates_at` -> stops signing at `retired_at`
    -> verifiable until `verify_until` (the longest token it signed has expired) -> unpublished
    (`active` = False)."""

    kid = models.CharField(max_length=64, primary_key=True)
    alg = models.CharField(max_length=16)
    public_jwk = models.JSONField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    activates_at = models.DateTimeField()
    verify_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jwk_keys"
        ordering = ("activates_at",)
        verbose_name = "signing key"

    def __str__(self) -> str:
        return f"{self.kid} ({self.alg})"


class SealedPrivateKey(models.Model):
    """A private signing key in the database (keys.store.DatabaseKeyStore), envelope-encrypted:
    the PEM sealed with a data key of its own, and that data key wrapped by the master key (from
    the environment, or a cloud KMS). Nodes then share keys without a shared volume; the
    database alone, without the master key, yields no private key."""

    kid = models.CharField(max_length=64, primary_key=True)
    wrapped_data_key = models.TextField()
    ciphertext = models.TextField()
    wrapper = models.CharField(max_length=64)  # which master key wrapped it: unwrapping checks
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "jwk_private_keys"
