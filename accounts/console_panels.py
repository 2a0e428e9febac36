"""The seams of the console's user page (accounts/admin.py) for the rooms above accounts.

accounts sits below authz, sessions_app and federation and never imports them, yet a user's page
shows their sessions, roles and external identities. So each of those rooms registers a *panel*
here from its AppConfig.ready() (`<room>/console_panels.py`): what to show, the permission to see
it, and its own POST actions with their own permissions. The user admin renders the panels and
runs their actions behind one gate (signed-in staff, CSRF, POST only, the user within the staff
member's tenant scope, the action's permission), so a panel does only its room's part.

The tenant scope itself is authz's answer (`authz.backends.console_scope`), installed here the
same way: accounts asks, authz knows."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import User

# None: every tenant (platform console rights); otherwise the tenant ids the staff member may see.
Scope = frozenset[int] | None


@dataclass(frozen=True)
class PanelAction:
    """A POST action of a panel, e.g. revoking one session. `run` calls its room's service with
    the staff member as actor and returns the message to show; a CustosError it raises is shown
    as a warning, nothing changed."""

    permission: str
    run: Callable[[HttpRequest, User], str]


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    order: int
    # the panel's HTML (escaped by the panel: format_html / a template), or "" to hide it
    render: Callable[[HttpRequest, User], str]
    permission: str = "accounts.view_user"
    actions: dict[str, PanelAction] = field(default_factory=dict)


_PANELS: dict[str, Panel] = {}


def register_panel(name: str, order: int, render: Callable[[HttpRequest, User], str], permission: str, *,
                   title: str = "", actions: dict[str, PanelAction] | None = None) -> Panel:
    """Add (or replace, for reloads and tests) the panel `name` of the user's page."""
    panel = Panel(name=name, title=title or name.replace("_", " ").capitalize(), order=order, render=render,
                  permission=permission, actions=dict(actions or {}))
    _PANELS[name] = panel
    return panel


def panels() -> list[Panel]:
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.name))


def panel(name: str) -> Panel | None:
    return _PANELS.get(name)


# ---- tenant scope ------------------------------------------------------------------------------
def _no_scope(user: Any) -> Scope:
    # Until authz installs its answer nobody but a superuser sees anyone: failing closed.
    return None if getattr(user, "is_superuser", False) and getattr(user, "is_active", False) else frozenset()


_scope_provider: Callable[[Any], Scope] = _no_scope


def set_scope_provider(fn: Callable[[Any], Scope]) -> None:
    global _scope_provider
    _scope_provider = fn


def console_scope(user: Any) -> Scope:
    """The tenants whose users `user` may see and act on in the console: None for every tenant
    (platform console rights), a set of tenant ids for a tenant administrator, empty for nobody."""
    return _scope_provider(user)


def panel_action_url(user_id: int, panel_name: str, op: str) -> str:
    from django.urls import reverse

    return reverse("admin:accounts_user_panel_action", args=[user_id, panel_name, op])
