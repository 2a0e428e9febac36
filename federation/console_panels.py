"""federation's panel of the console's user page (accounts/console_panels.py): the user's external
identities, each with an unbind button (permission `accounts.unbindidentity_user`).

`identity_unbind_by_staff` belongs in federation/services.py (the API's `identity_unbind` is the
user's own, re-authenticated, with the user as actor, and takes a provider name, not one
identity); it lives here until that file's owner moves it."""
from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string

from accounts.console_panels import PanelAction, panel_action_url, register_panel
from accounts.models import User
from audit.models import Action
from audit.services import Actor, event_record

from .errors import IdentityNotBound, LastLoginMethod
from .models import UserOAuth
from .services import _other_ways_in


@transaction.atomic
def identity_unbind_by_staff(*, user_id: int, identity_id: int, actor: Actor) -> str:
    """Staff unbind one external identity of an account (a hijacked or mistaken link), audited with
    the staff member as actor. As for the user, never the account's last way to sign in. Returns
    the provider's name."""
    user = User.objects.select_for_update().filter(pk=user_id).first()
    link = UserOAuth.objects.filter(pk=identity_id, user_id=user_id).first() if user is not None else None
    if link is None:
        raise IdentityNotBound("No such identity of this user.")
    others = UserOAuth.objects.filter(user_id=user_id).exclude(pk=link.pk).exists()
    if not others and not _other_ways_in(user, besides_provider=link.provider):
        raise LastLoginMethod()
    link.delete()
    event_record(action=Action.IDENTITY_UNBOUND, actor=actor, subject_user_id=user_id, tenant_id=user.tenant_id,
                 metadata={"provider": link.provider, "identities": 1, "by": "staff"})
    return link.provider


def render(request: HttpRequest, user: User) -> str:
    rows = list(UserOAuth.objects.filter(user_id=user.pk).order_by("created_at", "id")
                .values("id", "provider", "issuer", "provider_uid", "created_at"))
    return render_to_string("admin/accounts/panels/identities.html", {
        "identities": rows, "unbind_url": panel_action_url(user.pk, "identities", "unbind"),
        "can_unbind": request.user.has_perm("accounts.unbindidentity_user")}, request=request)


def unbind(request: HttpRequest, user: User) -> str:
    raw = request.POST.get("identity_id", "")
    if not raw.isdigit() or len(raw) > 18:
        raise IdentityNotBound("No such identity of this user.")
    provider = identity_unbind_by_staff(user_id=user.pk, identity_id=int(raw), actor=Actor.user(request.user.pk))
    return f"The {provider} identity was unbound from the account."


register_panel("identities", 20, render, "accounts.view_user", title="External identities",
               actions={"unbind": PanelAction(permission="accounts.unbindidentity_user", run=unbind)})
