from django.conf import settings
from django.db import models


class UserOAuth(models.Model):
    """An external identity bound to a user (seed table `user_oauth`)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="user_id",
                             related_name="identities", db_index=False)
    provider = models.CharField(max_length=64)
    # The namespace `provider_uid` is unique in: the issuer for OpenID kinds (identities are
    # keyed by issuer + sub, whatever name the operator gave the provider), the kind otherwise.
    issuer = models.CharField(max_length=255, default="")
    provider_uid = models.CharField(max_length=255)
    # Sealed (custos.crypto.seal) when the provider's store_tokens is on. TEXT, not the seed's
    # varchar(255): a sealed token is ~1.4x its length plus 76, and Google's access tokens
    # (~200 characters) would not fit (migration 0004).
    access_token = models.TextField(null=True, blank=True)
    refresh_token = models.TextField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "user_oauth"
        constraints = [models.UniqueConstraint(fields=["provider", "provider_uid"], name="user_oauth_provider_uid"),
                       models.UniqueConstraint(fields=["issuer", "provider_uid"], name="user_oauth_issuer_uid")]
        indexes = [models.Index(fields=["user", "provider"], name="idx_user_oauth_user_provider")]


class OAuthProvider(models.Model):
    """An external identity provider an operator configured (`manage.py oauth_provider`).
    `name` is the `{provider}` segment of /v1/oauth/{provider}/...; the client credential is
    sealed with the field keys (custos.crypto) and never shown again: the client secret, or for
    Apple the private key (PEM) that signs each token request's client-secret JWT."""

    class Kind(models.TextChoices):
        OIDC = "oidc"
        GOOGLE = "google"
        GITHUB = "github"
        APPLE = "apple"
        WECHAT = "wechat"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    client_id = models.CharField(max_length=255)
    client_secret_sealed = models.TextField()
    # Apple only: the Apple Developer team id (the client-secret JWT's `iss`) and the id of the
    # private key (its `kid`).
    team_id = models.CharField(max_length=32, blank=True, default="")
    key_id = models.CharField(max_length=32, blank=True, default="")
    issuer = models.CharField(max_length=255, blank=True, default="")
    scopes = models.CharField(max_length=255, default="openid email profile")
    display_name = models.CharField(max_length=128, blank=True, default="")
    trust_email = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    store_tokens = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "oauth_providers"
        verbose_name = "identity provider"

    def __str__(self) -> str:
        return self.name


class OAuthFlow(models.Model):
    """One authorization started at GET /v1/oauth/{provider}/login and not yet finished:
    kept server-side, found by the SHA-256 of its state, deleted by the callback that spends
    it (single use). `sealed` holds the PKCE verifier and the nonce (custos.crypto.seal)."""

    state_hash = models.CharField(max_length=64, primary_key=True)
    provider = models.CharField(max_length=64)
    redirect_uri = models.CharField(max_length=512)
    user_id = models.BigIntegerField(null=True, blank=True)
    sealed = models.TextField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "oauth_flows"
