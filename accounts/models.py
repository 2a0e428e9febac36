from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower, StrIndex, Substr
from django.utils.crypto import salted_hmac


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, username: str | None = None, password: str | None = None, **extra):
        from . import services

        return services.user_create(username=username, password=password, **extra)

    def create_superuser(self, username: str | None = None, password: str | None = None, **extra):
        extra.setdefault("user_type", User.UserType.STAFF)
        extra["is_superuser"] = True
        return self.create_user(username=username, password=password, **extra)

    def get_by_natural_key(self, username: str):
        return self.get(username=username)


class User(AbstractBaseUser):
    """The `users` table of the seed schema; Django's `password`/`last_login` sit on its
    `password_hash`/`last_login_at` columns."""

    class UserType(models.TextChoices):
        CUSTOMER = "customer"
        STAFF = "staff"
        PARTNER = "partner"

    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"
        LOCKED = "locked"
        DELETED = "deleted"
        MERGED = "merged"

    id = models.BigAutoField(primary_key=True)
    username = models.CharField(max_length=64, unique=True, null=True, blank=True)
    email = models.CharField(max_length=128, unique=True, null=True, blank=True)
    phone = models.CharField(max_length=32, unique=True, null=True, blank=True)
    password = models.CharField(max_length=255, db_column="password_hash", null=True, blank=True)
    user_type = models.CharField(max_length=16, choices=UserType.choices, default=UserType.CUSTOMER)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, db_column="tenant_id",
                               related_name="users", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    token_version = models.IntegerField(default=0)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    db_column="merged_into_user_id", related_name="+")
    last_login = models.DateTimeField(null=True, blank=True, db_column="last_login_at")
    is_superuser = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Added to the seed: proof of the contact identifiers, and the lifecycle's when and why.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=64, blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The console's search by domain (`@example.com`, accounts.console.search): computed by the
    # database from `email` and stored, so that an index serves it where `email LIKE '%@x'` would
    # read every row. No service writes it; it cannot drift from the address.
    email_domain = models.GeneratedField(
        expression=Lower(Substr("email", StrIndex("email", models.Value("@")) + 1)),
        output_field=models.CharField(max_length=128, null=True, blank=True), db_persist=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = ["email"]  # createsuperuser asks for (and takes --email) an address

    class Meta:
        db_table = "users"
        indexes = [
            models.Index(fields=["tenant", "id"], name="idx_users_tenant"),
            models.Index(fields=["status", "id"], name="idx_users_status"),
            models.Index(fields=["user_type", "id"], name="idx_users_type"),
            models.Index(fields=["status", "deleted_at"], name="idx_users_deleted"),
            models.Index(fields=["email_domain", "id"], name="idx_users_email_domain"),
            # a tenant administrator's domain search, which the tenant's own index would serve
            # by reading the whole tenant
            models.Index(fields=["tenant", "email_domain", "id"], name="idx_users_tenant_domain"),
        ]

    def __str__(self) -> str:
        return self.username or self.email or self.phone or f"user {self.pk}"

    # Django admin and auth read these; they are derived from the seed columns.
    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_staff(self) -> bool:
        return self.user_type == self.UserType.STAFF and self.is_active

    # A console (Django admin) session stores this hash and Django ends the session on the next
    # request where it no longer matches. Bound to token_version as well as to the password,
    # a console session ends the moment every token does: force logout, freeze, lock, reset.
    def _session_hash(self, secret: str | None = None) -> str:
        return salted_hmac("custos.console.session", f"{self.password}:{self.token_version}", secret=secret,
                           algorithm="sha256").hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._session_hash()

    def get_session_auth_fallback_hash(self):  # a generator, as Django's
        from django.conf import settings

        for fallback_secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(fallback_secret)

    def totp_devices_confirmed(self) -> bool:
        return TotpDevice.objects.filter(user_id=self.pk, confirmed=True).exists()

    def has_perm(self, perm: str, obj=None) -> bool:
        from django.contrib.auth import get_backends

        if self.is_active and self.is_superuser:
            return True
        return any(getattr(b, "has_perm", lambda *a: False)(self, perm, obj) for b in get_backends())

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(p, obj) for p in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        from django.contrib.auth import get_backends

        if self.is_active and self.is_superuser:
            return True
        return any(getattr(b, "has_module_perms", lambda *a: False)(self, app_label) for b in get_backends())


class UserProfile(models.Model):
    class Gender(models.TextChoices):
        MALE = "male"
        FEMALE = "female"
        OTHER = "other"

    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE, db_column="user_id",
                                related_name="profile")
    nickname = models.CharField(max_length=64, null=True, blank=True)
    avatar = models.CharField(max_length=255, null=True, blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, default=Gender.OTHER)
    birthday = models.DateField(null=True, blank=True)
    extra = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "user_profiles"

    def __str__(self) -> str:  # the console's profile box: "User profile: user 42"
        return f"user {self.user_id}"


class OtpChallenge(models.Model):
    """A one-time code sent to an email address or phone: stored hashed, single use, with
    an expiry and a cap on wrong tries. Purposes: login, register, email_change, phone_change."""

    id = models.BigAutoField(primary_key=True)
    purpose = models.CharField(max_length=32)
    channel = models.CharField(max_length=8)  # email | sms
    destination = models.CharField(max_length=128)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    attempts = models.IntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "otp_challenges"
        indexes = [models.Index(fields=["purpose", "channel", "destination", "created_at"], name="otp_dest_time"),
                   models.Index(fields=["expires_at"], name="otp_expiry")]  # retention


class PasswordResetToken(models.Model):
    """A password reset (or invitation) token: random, stored as SHA-256, single use, 30 min;
    issuing one voids the user's older ones."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=16, default="reset")  # reset | invite
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "password_reset_tokens"
        indexes = [models.Index(fields=["expires_at"], name="reset_expiry")]  # retention


# ---- second factors and login history -------------------------------------------------------
from django_otp.models import Device  # noqa: E402


class TotpDevice(Device):
    """RFC 6238 TOTP on django-otp's Device. Unlike django-otp's TOTPDevice, the seed is
    encrypted at rest (custos.crypto) and `last_t` makes every code single use."""

    key_sealed = models.TextField()
    step = models.PositiveSmallIntegerField(default=30)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    last_t = models.BigIntegerField(default=-1)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_totp_devices"


class BackupCode(models.Model):
    """One-time backup codes, stored as SHA-256 (10 random characters each: nothing to gain
    from a slow hash); a new set voids the old."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_backup_codes"
        indexes = [models.Index(fields=["user", "code_hash"], name="backup_user_hash")]


class MfaChallenge(models.Model):
    """The `mfa_token` between a first factor and the second: hashed, single use, 5 minutes,
    good for /v1/auth/mfa/verify only."""

    id = models.BigAutoField(primary_key=True)
    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    first_factor = models.CharField(max_length=16)
    risk = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_challenges"
        indexes = [models.Index(fields=["expires_at"], name="mfa_challenge_expiry")]  # retention


class LoginEvent(models.Model):
    """Login history: every attempt on a known account, with where, what device, the result
    and the risk assessment. Users see their own; staff see everyone's."""

    id = models.BigAutoField(primary_key=True)
    # indexed by login_user_recent, which starts with it
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+", db_index=False)
    occurred_at = models.DateTimeField()
    ip = models.CharField(max_length=45, null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, default="")
    device_hash = models.CharField(max_length=64, blank=True, default="")
    device_id = models.CharField(max_length=128, blank=True, default="")
    user_agent = models.CharField(max_length=255, blank=True, default="")
    # oauth:<provider name> (up to 64) as well as password, email_otp, sms_otp, mfa
    method = models.CharField(max_length=80)
    result = models.CharField(max_length=16)  # success | failure | challenged | denied
    risk_score = models.IntegerField(default=0)
    reasons = models.JSONField(default=list)

    class Meta:
        db_table = "login_history"
        # One index serves the history listing (newest first) and covers every column the
        # risk assessment reads, so its read of the last sign-ins never touches the rows.
        indexes = [models.Index(fields=["user", "occurred_at", "result", "country", "device_hash"],
                                name="login_user_recent"),
                   # retention (accounts.tasks.purge_spent) deletes by age, batch by batch
                   models.Index(fields=["occurred_at"], name="login_history_age")]


class ConsoleSetup(models.Model):
    """The first-time setup's completion (docs/console.md): at most one row, id 1. Inserting it
    is how a setup claims the install, so two setups racing cannot both make a superuser, and
    the setup page stays gone even if every staff account is later deleted."""

    id = models.PositiveSmallIntegerField(primary_key=True)
    user_id = models.BigIntegerField()
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "console_setup"
