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

# Sent inside the merge's transaction (accounts.services.merge) after accounts has moved its
# own rows, and in a dry run with nothing written. Receivers in higher rooms move or end
# their rows (or, with dry_run, only count them) and return a report
# {"moved": {name: count}, "conflicts": [{"kind", "blocking", "code"?, ...}]}; a blocking
# conflict refuses the merge (the transaction rolls back). A receiver may also raise a
# CustosError. kwargs: primary_id, secondary_id, primary_tenant_id, secondary_tenant_id,
# secondary_token_version (the secondary's version after the merge's bump), cross_tenant
# (staff allowed a merge across tenants), dry_run, actor.
user_merged = Signal()
