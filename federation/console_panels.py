"""federation's panel of the console's user page (accounts/console_panels.py): the user's external
identities, each with an unbind button (permission `accounts.unbindidentity_user`), through
federation.services.identity_unbind_by_staff."""
from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from accounts.console_panels import PanelAction, panel_action_url, register_panel
from accounts.models import User
from audit.services import Actor

from .errors import IdentityNotBound
from .models import UserOAuth
from .services import identity_unbind_by_staff


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
