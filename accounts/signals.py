from django.dispatch import Signal

# Sent after a user's tokens were invalidated by a token_version bump (freeze, lock, delete,
# force logout). Receivers in higher rooms end sessions; accounts never imports them.
# kwargs: user_id, token_version, reason
user_tokens_invalidated = Signal()

# Sent when a tenant was created (kwargs: tenant_id); authz seeds the tenant's built-in roles.
tenant_created = Signal()
