from django.conf import settings
from django.db import models


class UserOAuth(models.Model):
    """An external identity bound to a user (seed table `user_oauth`)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="user_id",
                             related_name="identities", db_index=False)
    provider = models.CharField(max_length=64)
    provider_uid = models.CharField(max_length=128)
    access_token = models.CharField(max_length=255, null=True, blank=True)
    refresh_token = models.CharField(max_length=255, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "user_oauth"
        constraints = [models.UniqueConstraint(fields=["provider", "provider_uid"], name="user_oauth_provider_uid")]
        indexes = [models.Index(fields=["user", "provider"], name="idx_user_oauth_user_provider")]
