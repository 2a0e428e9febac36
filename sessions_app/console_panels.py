"""sessions_app's panel of the console's user page (accounts/console_panels.py): the user's live
sessions, each with a revoke button (permission `accounts.revokesession_user`), through the same
service as the API's session revocation, the staff member as actor."""
from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from accounts.console_panels import PanelAction, panel_action_url, register_panel
from accounts.models import User
from audit.services import Actor
from custos.exceptions import NotFound

from . import selectors, services


def render(request: HttpRequest, user: User) -> str:
    rows = selectors.sessions_of(user_id=user.pk, current_sid=None)
    return render_to_string("admin/accounts/panels/sessions.html", {
        "sessions": rows, "revoke_url": panel_action_url(user.pk, "sessions", "revoke"),
        "can_revoke": request.user.has_perm("accounts.revokesession_user")}, request=request)


def revoke(request: HttpRequest, user: User) -> str:
    session_id = request.POST.get("session_id", "")
    # only a session of this user: a session id of another account (or tenant) is not found here
    session = selectors.session_of_user(user_id=user.pk, session_id=session_id) if len(session_id) <= 64 else None
    if session is None:
        raise NotFound("No such session of this user (it may have ended already).")
    services.session_revoke(session=session, actor=Actor.user(request.user.pk), reason="console")
    return "The session was ended; its refresh token and access tokens stop working."


register_panel("sessions", 10, render, "accounts.view_user", title="Sessions",
               actions={"revoke": PanelAction(permission="accounts.revokesession_user", run=revoke)})
