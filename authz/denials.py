"""Authorization denials in the audit trail, aggregated so that a scan cannot flood it.

Every 403 `permission_denied` answer is a denial (custos.middleware sends `request_denied`
for each 403). The event names the principal, the permission it lacked (the object and action
of the Casbin check that said no, noted by `authz.permissions.allowed`; the route when no
check was noted) and the domain it asked in. Counting happens in the cache (Redis in
production, so across processes): per principal, permission and window (60 s;
settings.CUSTOS_AUTHZ["DENIAL_WINDOW"], env CUSTOS_AUTHZ_DENIAL_WINDOW), the first denial
writes an `authz.denied` event at once, and further ones only count, writing another event
when the count reaches 10, 100, 1000, ... (each carrying the count so far). One principal
hammering one permission writes at most 1 + log10(n) events a window, and varying the tenant
or the id does not multiply them: neither is part of the key. docs/audit.md states the rule."""
from __future__ import annotations

import contextvars
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction

from audit.models import Action, Result
from audit.services import Actor, event_record
from custos import context
from custos.crypto import sha256_hex

from .conf import conf

log = logging.getLogger("custos.authz")

# The last check that said no in this request: (request context, subject, tenant id of the
# principal, domain, object, action). Keyed by the request's context object so a value left by
# an earlier request on the same thread is never taken for this one's.
_last_denial: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("custos_last_denial", default=None)


def note(*, subject: str, tenant_id: Any, domain: str, obj: str, act: str) -> None:
    """Remember the check that said no. A no is not yet a denial (a caller may try the
    platform domain, then its tenant; a target outside the caller's reach is a 404): only a
    403 answer makes it one, and then this says which permission was missing."""
    _last_denial.set((context.current(), subject, tenant_id, domain, obj, act))


def _now() -> float:
    return time.time()


def _error_code(response: Any) -> str | None:
    data = getattr(response, "data", None)
    if data is None and not getattr(response, "streaming", False):
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            return None
    error = data.get("error") if isinstance(data, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _principal(request: Any) -> tuple[str | None, Any]:
    """(subject, tenant id) of the request's caller when no check was noted."""
    from .permissions import subject_of

    user = getattr(request, "user", None)
    subject = subject_of(user) if user is not None else None
    if subject is None and getattr(request, "custos_user_id", None) is not None:
        subject = f"user:{request.custos_user_id}"
    return subject, getattr(user, "tenant_id", None)


def _count(key: str, ttl: int) -> int:
    if cache.add(key, 1, timeout=ttl):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the add and the incr: this is the window's first again
        cache.add(key, 1, timeout=ttl)
        return 1


def _worth_an_event(count: int) -> bool:
    while count % 10 == 0:
        count //= 10
    return count == 1  # 1, 10, 100, 1000, ...


def record_denial(sender: Any = None, *, request: Any, response: Any, **_: Any) -> None:
    """`request_denied` receiver: a 403 permission_denied answer, counted and maybe recorded."""
    if _error_code(response) != "permission_denied":
        return  # another 403 (re-authentication required, a disabled account): not an authorization denial
    noted = _last_denial.get()
    _last_denial.set(None)
    if noted is not None and noted[0] is context.current():
        _, subject, tenant_id, domain, obj, act = noted
    else:  # refused without a Casbin check (a rule in code): the route names what was refused
        subject, tenant_id = _principal(request)
        match = getattr(request, "resolver_match", None)
        domain, obj, act = None, "route:" + (match.route if match is not None else "?"), request.method
    if subject is None:
        return
    window = conf().denial_window
    start = int(_now() // window) * window
    key = f"custos:authz:denied:{start}:{sha256_hex(f'{subject} {obj} {act}')[:32]}"
    count = _count(key, ttl=2 * window)
    if not _worth_an_event(count):
        return
    kind, _, ident = subject.partition(":")
    actor = Actor.service(ident) if kind == "svc" else Actor.user(ident)
    with transaction.atomic():  # on MariaDB the event's INSERT may wait for a statement or COMMIT
        event_record(action=Action.AUTHZ_DENIED, actor=actor, result=Result.DENIED,
                     subject_user_id=int(ident) if kind == "user" and ident.isdigit() else None,
                     tenant_id=tenant_id if isinstance(tenant_id, int) else None,
                     metadata={"object": obj, "act": act, "domain": domain, "method": request.method,
                               "count": count, "window_seconds": window,
                               # a time, not a bare epoch number: long digit runs in metadata read
                               # like one-time codes to the trail's secret scan
                               "window_start": datetime.fromtimestamp(start, tz=UTC).isoformat()})
