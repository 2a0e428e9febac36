"""Abnormal-login detection. Each rule adds to a risk score with a named reason; the policy
in settings (RISK_*_AT) decides what follows: allow, allow and tell the user, ask for a
second factor (or an emailed code), or refuse. Every finding is a `security.anomaly` audit
event; every attempt on a known account lands in the login history."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos import context
from custos.crypto import sha256_hex
from custos.sql import aware_datetime, insert_later

from ..conf import conf
from ..models import LoginEvent, User
from .geo import country_of, distance_km

HISTORY_WINDOW = 200
WEIGHTS = {"new_device": 20, "new_country": 30, "impossible_travel": 60, "failure_burst": 25,
           "too_many_sessions": 20}


@dataclass
class Risk:
    score: int = 0
    reasons: list[str] = field(default_factory=list)
    country: str = ""
    device_hash: str = ""
    decision: str = "allow"  # allow | notify | step_up | deny

    def as_dict(self) -> dict:
        return {"score": self.score, "reasons": self.reasons, "country": self.country, "decision": self.decision}


def device_hash(device_id: str, user_agent: str) -> str:
    basis = f"id:{device_id}" if device_id else f"ua:{user_agent}"
    return sha256_hex(basis)


# One read serves every rule, and it returns aggregates rather than rows: "known" devices
# and countries are those of the last HISTORY_WINDOW sign-ins (a user signing in all day
# would otherwise ship 200 rows to Python on every login).
_HISTORY_SUMMARY = """
SELECT COUNT(CASE WHEN result = %s THEN 1 END),
       COALESCE(MAX(CASE WHEN result = %s AND device_hash = %s THEN 1 ELSE 0 END), 0),
       COALESCE(MAX(CASE WHEN result = %s AND country = %s THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN result = %s AND occurred_at >= %s THEN 1 ELSE 0 END), 0),
       (SELECT country FROM login_history WHERE user_id = %s AND result = %s ORDER BY occurred_at DESC LIMIT 1),
       MAX(CASE WHEN result = %s THEN occurred_at END)
FROM (SELECT result, country, device_hash, occurred_at FROM login_history
      WHERE user_id = %s ORDER BY occurred_at DESC LIMIT %s) recent
"""

@dataclass(frozen=True)
class History:
    successes: int  # within the window
    known_device: bool
    known_country: bool
    recent_failures: int
    last_country: str
    last_success_at: datetime | None


def history_summary(*, user_id: int, device_hash: str, country: str, since: datetime) -> History:
    ok = "success"
    params = [ok, ok, device_hash, ok, country, "failure", connection.ops.adapt_datetimefield_value(since),
              user_id, ok, ok, user_id, HISTORY_WINDOW]
    with connection.cursor() as cur:
        cur.execute(_HISTORY_SUMMARY, params)
        n, device, known_country, failures, last_country, last_at = cur.fetchone()
    return History(successes=int(n), known_device=bool(device), known_country=bool(known_country),
                   recent_failures=int(failures), last_country=last_country or "",
                   last_success_at=aware_datetime(last_at) if last_at is not None else None)


def assess(*, user: User, active_sessions: int, now: datetime | None = None) -> Risk:
    """Score a sign-in of this user from this request. Reads only. `active_sessions` comes
    from the caller (sessions_app owns the sessions; accounts asks no higher room)."""
    now = now or timezone.now()
    ctx = context.current()
    risk = Risk(country=country_of(ctx.ip), device_hash=device_hash(ctx.device_id, ctx.user_agent))
    since = now - timedelta(minutes=15)
    seen = history_summary(user_id=user.pk, device_hash=risk.device_hash, country=risk.country, since=since)
    if seen.successes:  # a first sign-in has nothing to be unusual against
        if not seen.known_device:
            risk.reasons.append("new_device")
        if risk.country and not seen.known_country:
            risk.reasons.append("new_country")
        if risk.country and seen.last_country and seen.last_country != risk.country and seen.last_success_at:
            km = distance_km(seen.last_country, risk.country)
            hours = max((now - seen.last_success_at).total_seconds() / 3600, 1 / 60)
            if km is not None and km / hours > conf().risk_travel_kmh:
                risk.reasons.append("impossible_travel")
    if seen.recent_failures >= conf().risk_failure_burst:
        risk.reasons.append("failure_burst")
    if active_sessions >= conf().risk_max_sessions:
        risk.reasons.append("too_many_sessions")
    risk.score = min(100, sum(WEIGHTS[r] for r in risk.reasons))
    if risk.score >= conf().risk_deny_at:
        risk.decision = "deny"
    elif risk.score >= conf().risk_step_up_at:
        risk.decision = "step_up"
    elif risk.score >= conf().risk_notify_at:
        risk.decision = "notify"
    return risk


def anomaly_record(*, user: User, risk: Risk) -> None:
    """The `security.anomaly` event of an assessment that found something (in the sign-in's
    transaction: assess() itself only reads)."""
    if risk.reasons:
        event_record(action=Action.SECURITY_ANOMALY, actor=Actor.system("risk"), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata=risk.as_dict())


def history_record(*, user: User, method: str, result: str, risk: Risk | None = None) -> None:
    ctx = context.current()
    insert_later(LoginEvent(
        user=user, occurred_at=timezone.now(), ip=ctx.ip, country=risk.country if risk else country_of(ctx.ip),
        device_hash=risk.device_hash if risk else device_hash(ctx.device_id, ctx.user_agent),
        device_id=ctx.device_id[:128], user_agent=ctx.user_agent[:255], method=method, result=result,
        risk_score=risk.score if risk else 0, reasons=risk.reasons if risk else []))


def history_of(*, user_id: int, limit: int = 50) -> list[dict]:
    return list(LoginEvent.objects.filter(user_id=user_id).order_by("-occurred_at")
                .values("occurred_at", "ip", "country", "device_id", "user_agent", "method", "result", "risk_score",
                        "reasons")[:limit])
