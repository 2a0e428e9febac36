from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def new_session_id() -> str:
    return str(uuid.uuid4())


class Session(models.Model):
    """One signed-in device (seed table `sessions`)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="user_id",
                             related_name="+", db_index=False)
    session_id = models.CharField(max_length=36, unique=True, default=new_session_id)
    refresh_token = models.ForeignKey("RefreshToken", null=True, blank=True, on_delete=models.SET_NULL,
                                      db_column="refresh_token_id", related_name="+")
    device_id = models.CharField(max_length=128, null=True, blank=True)
    user_agent = models.CharField(max_length=255, null=True, blank=True)
    ip = models.CharField(max_length=45, null=True, blank=True)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    # Added to the seed: the tenant the tokens are for, how and when the user authenticated,
    # and why and when the session ended.
    tenant_id = models.BigIntegerField(null=True, blank=True)
    amr = models.JSONField(default=list)
    auth_time = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        db_table = "sessions"
        indexes = [models.Index(fields=["user", "revoked"], name="idx_sessions_user"),
                   # purge_expired: ended sessions past retention, and the sweep of idle ones
                   models.Index(fields=["revoked", "revoked_at"], name="idx_sessions_ended"),
                   models.Index(fields=["revoked", "last_seen_at"], name="idx_sessions_idle")]


class RefreshToken(models.Model):
    """One opaque refresh token, stored as its SHA-256 only (seed table `refresh_tokens`)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="user_id",
                             related_name="+", db_index=False)
    token_hash = models.CharField(max_length=64, unique=True)
    is_used = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Added to the seed for rotation and reuse detection: the session the token belongs to,
    # the token it replaced, when it was spent and when it was revoked.
    session = models.ForeignKey(Session, on_delete=models.CASCADE, db_column="session_ref_id",
                                related_name="tokens")
    parent = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                  db_column="parent_id", related_name="successor")
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "refresh_tokens"
        indexes = [models.Index(fields=["user"], name="idx_refresh_tokens_user")]


class Revocation(models.Model):
    """The revocation feed: every kick (user, minimum token version), every ended session and
    every change to the `roles` claim (a user's, or a whole tenant's: `created_at` is the
    change's moment, see sessions_app.revstate for the cutoff rule).

    Each process polls it to keep its in-memory revocation state current (so a logout reaches
    every worker and host within a second, with no per-request query), and Clotho reads it
    through /internal/revocations."""

    KIND_USER = "user"
    KIND_SESSION = "session"
    KIND_ROLES = "roles"  # user_id's roles changed
    KIND_TENANT_ROLES = "troles"  # roles changed for any user of tenant_id (NULL: the platform domain); user_id 0

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=8)
    user_id = models.BigIntegerField()
    min_token_version = models.IntegerField(null=True, blank=True)
    session_id = models.CharField(max_length=36, null=True, blank=True)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "revocations"
