"""What the console's authz pages share: the permission names, which domains a request may see
(`_domains_for`), the forms, and granting a role as the API does."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest

from audit.services import Actor
from custos.exceptions import CustosError, ValidationFailed

from .. import selectors, services
from ..subjects import (
    PLATFORM_DOMAIN,
    check_action,
    check_object,
    check_role_name,
    parse_subject,
)

# ---- permissions: one per action (docs/console-authz.md) ----------------------------------------
ROLE_VIEW, ROLE_ADD, ROLE_CHANGE, ROLE_DELETE, ROLE_GRANT = (
    "authz.view_role", "authz.add_role", "authz.change_role", "authz.delete_role", "authz.grant_role")
WHY_USE = "authz.use_why"
KEY_VIEW, KEY_ADD, KEY_REVOKE, KEY_GRANT = (
    "authz.view_servicekey", "authz.add_servicekey", "authz.revoke_servicekey", "authz.grant_servicekey")

MAX_PERMISSION_LINES = 500  # the API's limit on a role's permissions in one request
MAX_CHECK_OBJECT = 1024  # the check API's limits
MAX_CHECK_ACTION = 64


# ---- which domains a request may see ------------------------------------------------------------
@dataclass(frozen=True)
class DomainScope:
    every: bool
    domains: frozenset[str] = frozenset()

    def allows(self, domain: str) -> bool:
        return self.every or domain in self.domains


def _domains_for(request: HttpRequest) -> DomainScope:
    """The one place that decides which policy domains this staff member sees and changes on these
    pages. Today the pages' own permissions are platform rights, so their holders see every domain;
    tenant administrators' scoping (designed with the user pages) narrows this function only."""
    return DomainScope(every=True)


def _domain_choices(request: HttpRequest) -> list[tuple[str, str]]:
    scope = _domains_for(request)
    return [(d, label) for d, label in selectors.domain_choices() if scope.allows(d)]


def _domain_label(domain: str) -> str:
    return "platform" if domain == PLATFORM_DOMAIN else domain


def _domain_title(choices: list[tuple[str, str]], domain: str | None) -> str:
    """"acme (tenant:3)", "platform": a domain as staff know it."""
    return dict(choices).get(domain, domain) if domain else ""


def _known_domain(request: HttpRequest, domain: str) -> bool:
    return _domains_for(request).allows(domain) and selectors.domain_known(domain)


def _error_text(exc: CustosError) -> list[str]:
    if exc.fields:
        return [m for msgs in exc.fields.values() for m in msgs]
    return [exc.message]


# ---- forms ----------------------------------------------------------------------------------------
_SEPARATOR = re.compile(r"[\s,]+")


def _parse_permissions(text: str) -> list[tuple[str, str]]:
    """`object action` per line (a comma may separate them too); blank lines and `#` comments are
    skipped. Every line is checked with the API's own rules, and each error names its line."""
    perms: list[tuple[str, str]] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in _SEPARATOR.split(line) if p]
        if len(parts) != 2:
            errors.append(f"Line {n}: expected an object and an action, such as “/orders/* read”.")
            continue
        try:
            perms.append((check_object(parts[0]), check_action(parts[1])))
        except ValidationFailed as exc:
            errors.extend(f"Line {n}: {m}" for m in _error_text(exc))
    if errors:
        raise forms.ValidationError(errors)
    if not perms:
        raise forms.ValidationError("A role needs at least one permission.")
    if len(perms) > MAX_PERMISSION_LINES:
        raise forms.ValidationError(f"At most {MAX_PERMISSION_LINES} permissions.")
    return perms


def _permissions_text(perms: list[dict]) -> str:
    return "".join(f"{p['object']} {p['action']}\n" for p in perms)


PERMISSIONS_HELP = ("One permission per line: an object and an action, e.g. “/orders/:id read” or “/orders/* *”. "
                    "Objects are paths matched like Casbin's keyMatch2 (:param for one segment, * for the rest).")


class PermissionsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 10, "cols": 60, "spellcheck": "false", "class": "vLargeTextField"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(help_text=PERMISSIONS_HELP, **kwargs)

    def clean(self, value: Any) -> list[tuple[str, str]]:  # type: ignore[override]
        return _parse_permissions(super().clean(value))


class DomainForm(forms.Form):
    """The domain picker: the platform and every tenant this request may see."""

    domain = forms.ChoiceField(label="Domain")

    def __init__(self, *args: Any, domains: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = domains
        self.fields["domain"].error_messages["invalid_choice"] = "No such tenant (or not one you may see)."


class RoleCreateForm(DomainForm):
    name = forms.CharField(max_length=64, label="Name",
                           help_text="1-64 characters: lower-case letters, digits, '_', '.', '-'.")
    permissions = PermissionsField(label="Permissions")
    field_order = ["domain", "name", "permissions"]

    def clean_name(self) -> str:
        try:
            return check_role_name(self.cleaned_data["name"])
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


class RolePermissionsForm(forms.Form):
    permissions = PermissionsField(label="Permissions")
    confirm_builtin = forms.BooleanField(
        required=False, label="I am changing a built-in role",
        help_text="Every installation (or every tenant) starts with this role; the API lets its permissions "
                  "change, and so does the console, once you tick this.")

    def __init__(self, *args: Any, builtin: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.builtin = builtin
        if not builtin:
            del self.fields["confirm_builtin"]

    def clean(self) -> dict:
        data = super().clean()
        if self.builtin and not data.get("confirm_builtin"):
            self.add_error("confirm_builtin", "This is a built-in role: tick the box to change it anyway.")
        return data


class SubjectField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=80, help_text="A user id, user:<id>, or svc:<name>.", **kwargs)

    def clean(self, value: Any) -> str:  # type: ignore[override]
        value = super().clean(value).strip()
        try:
            return parse_subject(value)
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


class GrantForm(forms.Form):
    subject = SubjectField(label="Grant this role to")


class WhyForm(DomainForm):
    subject = SubjectField(label="Subject")
    object = forms.CharField(max_length=MAX_CHECK_OBJECT, label="Object", help_text="e.g. /users/42")
    action = forms.CharField(max_length=MAX_CHECK_ACTION, label="Action", help_text="e.g. read")
    field_order = ["subject", "domain", "object", "action"]

    def clean_object(self) -> str:
        value = self.cleaned_data["object"]
        if not value.strip():
            raise forms.ValidationError("An object, such as /users/42.")
        return value


class ServiceKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=48, label="Service name",
                           help_text="Lower-case letters, digits, '-', '_'; at most 48. The key acts as svc:<name>; "
                                     "a service may have several keys (for a rotation), which share its roles.")


class ServiceRoleForm(DomainForm):
    role = forms.CharField(max_length=64, label="Role", help_text="A role of that domain, e.g. gateway (platform).")

    def clean_role(self) -> str:
        try:
            return check_role_name(self.cleaned_data["role"], field="role")
        except ValidationFailed as exc:
            raise forms.ValidationError(_error_text(exc)) from None


def _apply_error(form: forms.Form, exc: CustosError, fields: dict[str, str]) -> None:
    """A service's refusal as form errors: its field names mapped onto the form's, the rest on top."""
    if exc.fields:
        for name, msgs in exc.fields.items():
            target = next((f for prefix, f in fields.items() if name == prefix or name.startswith(prefix + ".")),
                          None)
            for m in msgs:
                form.add_error(target if target in form.fields else None, m)
    else:
        form.add_error(fields.get(exc.code) if fields.get(exc.code) in form.fields else None, exc.message)


def _user_id(subject: str) -> int | None:
    return int(subject[5:]) if subject.startswith("user:") else None


def _grant(request: HttpRequest, *, subject: str, role: str, domain: str, actor: Actor) -> str | None:
    """Grant as the API does (authz.api.views.UserRolesView.post): a user must belong to the
    domain's tenant (any user for the platform). Returns the refusal, or None."""
    user_id = _user_id(subject)
    if user_id is not None and selectors.user_in_domain(user_id=user_id, domain=domain) is None:
        if selectors.user_exists(user_id=user_id) and _domains_for(request).every:
            return "The user does not belong to this tenant."
        return "No such user."
    try:
        added = services.subject_role_grant(subject=subject, role=role, domain=domain, actor=actor,
                                            subject_user_id=user_id)
    except CustosError as exc:
        return " ".join(_error_text(exc))
    return None if added else f"{subject} already holds “{role}” here."
