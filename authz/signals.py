from django.dispatch import Signal

# Sent inside the transaction of every change to the `roles` claim of existing holders (a grant,
# a revocation, a role deleted with its assignments, a domain purged or imported). Receivers in
# higher rooms refuse access tokens issued before it (sessions_app.receivers); authz never
# imports them.
# kwargs: user_ids (ids of the users whose roles changed; None: any user of the domain),
#         tenant_id (the domain's tenant; None for the platform domain), at (the change's moment)
roles_changed = Signal()
