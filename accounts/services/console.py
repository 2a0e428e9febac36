"""What the staff console needs that the API had no call for: a password reset link sent at staff's
request, audited with the staff member as actor (the API's reset is the user's own request,
anonymous and silent about whether the account exists)."""
from __future__ import annotations

from django.db import transaction

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import Conflict, NotFound

from ..conf import conf
from ..models import User
from .passwords import _issue_link


@transaction.atomic
def password_reset_send(*, user_id: int, actor: Actor) -> None:
    """Mail the account's address a reset link (it voids older links), as the user's own request
    would; the same accounts may reset: active, locked or frozen ones with an email address. The
    link is never shown to staff, only mailed."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    if not user.email:
        raise Conflict("The account has no email address to send a link to.", code="no_email")
    if user.status not in (User.Status.ACTIVE, User.Status.LOCKED, User.Status.DISABLED):
        raise Conflict("A deleted or merged account cannot reset its password.", code="not_resettable")
    _issue_link(user, "reset", conf().reset_token_ttl)
    event_record(action=Action.PASSWORD_RESET_REQUESTED, actor=actor, subject_user_id=user.pk,
                 tenant_id=user.tenant_id, metadata={"by": "staff"})
