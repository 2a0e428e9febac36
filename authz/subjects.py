"""How Custos names things to Casbin: one place, so every room agrees."""
from __future__ import annotations

import re
from functools import lru_cache

from custos.exceptions import ValidationFailed
from custos.validation import parse_id

PLATFORM_DOMAIN = "platform"
_ROLE = re.compile(r"^[a-z][a-z0-9_.\-]{0,63}$")
_ACTION = re.compile(r"^(\*|[a-z][a-z0-9_.\-]{0,31})$")
_SERVICE = re.compile(r"^[a-z][a-z0-9_\-]{0,47}$")


def user_subject(user_id: int | str) -> str:
    return f"user:{user_id}"


def service_subject(name: str) -> str:
    return f"svc:{name}"


def tenant_domain(tenant_id: int | None) -> str:
    return PLATFORM_DOMAIN if tenant_id is None else f"tenant:{tenant_id}"


def parse_tenant(value: object, *, field: str = "tenant") -> str:
    """`7`, `"7"`, `"tenant:7"` -> "tenant:7"; `null`/`"platform"` -> "platform"."""
    domain = _tenant_of(value) if isinstance(value, (str, int)) or value is None else None
    if domain is None:
        raise ValidationFailed(fields={field: ["A tenant id or \"platform\"."]})
    return domain


def parse_subject(value: object, *, field: str = "subject") -> str:
    """`42`, `"user:42"`, `"svc:clotho"` -> a Casbin subject."""
    subject = _subject_of(value) if isinstance(value, (str, int)) else None
    if subject is None:
        raise ValidationFailed(fields={field: ["A user id, \"user:<id>\" or \"svc:<name>\"."]})
    return subject


# A check-batch parses up to a thousand of these, and a gateway asks about the same subjects
# and tenants over and over: each distinct value is parsed once per process. typed=True keeps
# True and 1 (equal, and equally hashed) apart: one is refused, the other is an id.
@lru_cache(maxsize=65536, typed=True)
def _tenant_of(value: str | int | None) -> str | None:
    if value is None or value == PLATFORM_DOMAIN:
        return PLATFORM_DOMAIN
    if isinstance(value, str) and value.startswith("tenant:"):
        value = value[7:]
    try:
        return f"tenant:{parse_id(value, 'tenant', optional=False)}"
    except ValidationFailed:
        return None


@lru_cache(maxsize=65536, typed=True)
def _subject_of(value: str | int) -> str | None:
    if isinstance(value, str) and value.startswith("svc:") and _SERVICE.match(value[4:]):
        return value
    if isinstance(value, str) and value.startswith("user:"):
        value = value[5:]
    try:
        return user_subject(parse_id(value, "subject", optional=False))
    except ValidationFailed:
        return None


def check_role_name(name: object, *, field: str = "name") -> str:
    if not isinstance(name, str) or not _ROLE.match(name):
        raise ValidationFailed(fields={field: ["1-64 characters: lower-case letters, digits, '_', '.', '-'."]})
    return name


def check_object(obj: object, *, field: str = "object") -> str:
    if (not isinstance(obj, str) or not obj or len(obj) > 255 or "," in obj or obj != obj.strip()
            or any(c.isspace() for c in obj) or not (obj.startswith("/") or obj == "*")):
        raise ValidationFailed(fields={field: ["A path such as /orders/:id or /orders/*, or *, without commas "
                                               "or spaces, at most 255 characters."]})
    return obj


def check_action(act: object, *, field: str = "action") -> str:
    if not isinstance(act, str) or not _ACTION.match(act):
        raise ValidationFailed(fields={field: ["An action such as read, write or *."]})
    return act
