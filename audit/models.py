from __future__ import annotations

import uuid

from django.db import models


class Action(models.TextChoices):
    """The documented vocabulary of audit actions (docs/audit.md)."""

    USER_REGISTERED = "user.registered"
    TENANT_CREATED = "tenant.created"
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    REFRESH_REUSED = "refresh.reused"
    SESSION_REVOKED = "session.revoked"
    USER_FORCED_LOGOUT = "user.forced_logout"
    USER_FROZEN = "user.frozen"
    USER_ACTIVATED = "user.activated"
    USER_LOCKED = "user.locked"
    USER_UNLOCKED = "user.unlocked"
    USER_DELETED = "user.deleted"
    PASSWORD_REHASHED = "password.rehashed"
    PASSWORD_CHANGED = "password.changed"
    REAUTH_FAILED = "reauth.failed"
    MFA_ENABLED = "mfa.enabled"
    MFA_DISABLED = "mfa.disabled"
    MFA_FAILED = "mfa.failed"
    MFA_BACKUP_CODES_REGENERATED = "mfa.backup_codes_regenerated"
    LOGIN_CHALLENGED = "login.challenged"
    LOGIN_THROTTLED = "login.throttled"
    SECURITY_ANOMALY = "security.anomaly"
    OTP_SENT = "otp.sent"
    PASSWORD_RESET_REQUESTED = "password.reset_requested"
    PASSWORD_RESET = "password.reset"
    PROFILE_UPDATED = "user.profile_updated"
    CONTACT_CHANGED = "user.contact_changed"
    CONTACT_VERIFIED = "user.contact_verified"
    UNVERIFIED_CLAIM_VOIDED = "user.unverified_claim_voided"
    TENANT_UPDATED = "tenant.updated"
    TENANT_DISABLED = "tenant.disabled"
    TENANT_ENABLED = "tenant.enabled"
    USER_UPDATED = "user.updated"
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"
    SERVICE_KEY_CREATED = "service_key.created"
    SERVICE_KEY_REVOKED = "service_key.revoked"
    POLICY_CHANGED = "policy.changed"
    AUTHZ_DENIED = "authz.denied"
    KEY_CREATED = "key.created"
    KEY_ROTATED = "key.rotated"
    IDENTITY_BOUND = "identity.bound"
    IDENTITY_PROVIDER_CHANGED = "identity.provider_changed"
    IDENTITY_UNBOUND = "identity.unbound"
    SETUP_COMPLETED = "setup.completed"
    USER_MERGED = "user.merged"


class Result(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class ActorType(models.TextChoices):
    USER = "user"
    SERVICE = "service"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class AuditEvent(models.Model):
    """Append-only record of security-relevant changes; also the export outbox."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.SUCCESS)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    subject_user_id = models.BigIntegerField(null=True, blank=True)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    ip = models.CharField(max_length=45, null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "audit_events"
        indexes = [
            models.Index(fields=["action", "occurred_at"], name="audit_action_time"),
            models.Index(fields=["subject_user_id", "occurred_at"], name="audit_subject_time"),
            models.Index(fields=["tenant_id", "occurred_at"], name="audit_tenant_time"),
            models.Index(fields=["actor_type", "actor_id", "occurred_at"], name="audit_actor_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%dT%H:%M:%SZ} {self.action} {self.result}"


class ExportCursor(models.Model):
    """How far each sink has acknowledged the trail (the outbox's per-sink position)."""

    sink = models.CharField(max_length=32, primary_key=True)
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "audit_export_cursors"


class JobRun(models.Model):
    """The last run of each periodic job (export, purge), for /metrics and operators."""

    name = models.CharField(max_length=64, primary_key=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_count = models.BigIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "audit_job_runs"
