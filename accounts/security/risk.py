"""Abnormal-login detection. Each rule adds to a risk score with a named reason; the policy
in settings (RISK_*_AT) decides what follows: allow, allow and tell the user, ask for a
second factor (or an emailed code), or refuse. Every finding is a `security.anomaly` audit
event; every attempt on a known account lands in the login history."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos import context

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
    return hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def assess(*, user: User, active_sessions: int, now: datetime | None = None) -> Risk:
    now = now or timezone.now()
    ctx = context.current()
    risk = Risk(country=country_of(ctx.ip), device_hash=device_hash(ctx.device_id, ctx.user_agent))
    # One read of the recent history serves every rule: "known" devices and countries are
    # those of the last HISTORY_WINDOW sign-ins.
    recent = list(LoginEvent.objects.filter(user=user).order_by("-occurred_at")
                  .values_list("result", "country", "device_hash", "occurred_at")[:HISTORY_WINDOW])
    successes = [r for r in recent if r[0] == "success"]
    if successes:  # a first sign-in has nothing to be unusual against
        last_country, last_at = successes[0][1], successes[0][3]
        if risk.device_hash not in {r[2] for r in successes}:
            risk.reasons.append("new_device")
        if risk.country and risk.country not in {r[1] for r in successes}:
            risk.reasons.append("new_country")
        if risk.country and last_country and last_country != risk.country:
            km = distance_km(last_country, risk.country)
            hours = max((now - last_at).total_seconds() / 3600, 1 / 60)
            if km is not None and km / hours > conf("RISK_TRAVEL_KMH"):
                risk.reasons.append("impossible_travel")
    since = now - timedelta(minutes=15)
    recent_failures = sum(1 for r in recent if r[0] == "failure" and r[3] >= since)
    if recent_failures >= conf("RISK_FAILURE_BURST"):
        risk.reasons.append("failure_burst")
    if active_sessions >= conf("RISK_MAX_SESSIONS"):
        risk.reasons.append("too_many_sessions")
    risk.score = min(100, sum(WEIGHTS[r] for r in risk.reasons))
    if risk.score >= conf("RISK_DENY_AT"):
        risk.decision = "deny"
    elif risk.score >= conf("RISK_STEP_UP_AT"):
        risk.decision = "step_up"
    elif risk.score >= conf("RISK_NOTIFY_AT"):
        risk.decision = "notify"
    if risk.reasons:
        event_record(action=Action.SECURITY_ANOMALY, actor=Actor.system("risk"), subject_user_id=user.pk,
                     tenant_id=user.tenant_id, metadata=risk.as_dict())
    return risk


def history_record(*, user: User, method: str, result: str, risk: Risk | None = None) -> None:
    ctx = context.current()
    LoginEvent.objects.create(
        user=user, occurred_at=timezone.now(), ip=ctx.ip, country=risk.country if risk else country_of(ctx.ip),
        device_hash=risk.device_hash if risk else device_hash(ctx.device_id, ctx.user_agent),
        device_id=ctx.device_id[:128], user_agent=ctx.user_agent[:255], method=method, result=result,
        risk_score=risk.score if risk else 0, reasons=risk.reasons if risk else [])


def history_of(*, user_id: int, limit: int = 50) -> list[dict]:
    return list(LoginEvent.objects.filter(user_id=user_id).order_by("-occurred_at")
                .values("occurred_at", "ip", "country", "device_id", "user_agent", "method", "result", "risk_score",
                        "reasons")[:limit])
