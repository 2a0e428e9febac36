"""Django admin permissions for staff are Casbin policies in the platform domain:
`app_label.change_user` is action `change` on object `/admin/accounts/user`."""
from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from .enforcer import enforcer
from .engine import object_matcher
from .subjects import PLATFORM_DOMAIN, user_subject


def admin_object(app_label: str, model: str) -> str:
    return f"/admin/{app_label}/{model}"


class CasbinAdminBackend(BaseBackend):
    def authenticate(self, request, **kwargs):
        return None  # authentication is accounts' backend; this one only answers permissions

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if not getattr(user_obj, "is_active", False) or not getattr(user_obj, "is_staff", False):
            return False
        app_label, _, codename = perm.partition(".")
        action, _, model = codename.partition("_")
        if not app_label or not model:
            return False
        return enforcer().enforce(user_subject(user_obj.pk), PLATFORM_DOMAIN, admin_object(app_label, model), action)

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        if not getattr(user_obj, "is_active", False) or not getattr(user_obj, "is_staff", False):
            return False
        probe = f"/admin/{app_label}/x"
        prefix = f"/admin/{app_label}/"
        rules = enforcer().index.permissions_of(user_subject(user_obj.pk), PLATFORM_DOMAIN)
        return any(o.startswith(prefix) or object_matcher(o)(probe) for _, o, _ in rules)
