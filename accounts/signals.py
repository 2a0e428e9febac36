from django.dispatch import Signal

# Sent after a user's tokens were invalidated by a token_version bump (freeze, lock, delete,
# force logout). Receivers in higher rooms end sessions; accounts never imports them.
# kwargs: user_id, token_version, reason
user_tokens_invalidated = Signal()

# Sent when a tenant was created (kwargs: tenant_id); authz seeds the tenant's built-in roles.
tenant_created = Signal()

# Sent when an account was deleted (kwargs: user_id, actor); rooms holding personal data
# about the user (federation's identities) remove it.
user_deleted = Signal()

# Sent when a user changed their password (kwargs: user_id, keep_session_id): the sessions
# room ends every other session.
password_changed = Signal()
