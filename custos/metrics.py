"""Custos's own Prometheus metrics. Labels name kinds, never a user, tenant or token.

Counters live here (custos depends on nothing) and are incremented by the rooms' services;
gauges that describe stored state (export backlog and lag, signing-key age, last job runs)
are computed at scrape time by collectors the rooms register."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter

LOGINS = Counter("custos_logins", "Sign-in attempts by method and result", ["method", "result"])
REFRESHES = Counter("custos_refreshes", "Refresh-token rotations by outcome", ["result"])
REUSE_DETECTED = Counter("custos_refresh_reuse_detections", "Spent refresh tokens presented again")
FORCED_LOGOUTS = Counter("custos_forced_logouts", "Users or sessions kicked by staff or services", ["scope"])
LOCKOUTS = Counter("custos_lockouts", "Brute-force lockouts", ["kind"])
OTP_SENT = Counter("custos_otp_sent", "One-time codes sent", ["channel", "purpose"])
MFA_RESULTS = Counter("custos_mfa_results", "Second-factor checks", ["method", "result"])
AUTHZ_CHECKS = Counter("custos_authz_checks", "Authorization decisions", ["decision"])

# Every label set a counter is known to take, created at 0 when the process starts: an alert
# on a missing or absent series then means something (a fresh server shows
# custos_logins_total{method="password",result="success"} 0, not nothing). Labels that name
# what an operator configures (an external provider, `oauth:<name>`) appear at first use.
_RESULTS = ("success", "failure", "denied", "throttled", "challenged")
KNOWN_LABELS: list[tuple[Counter, list[tuple[str, ...]]]] = [
    (LOGINS, [(m, r) for m in ("password", "email_otp", "sms_otp") for r in _RESULTS]),
    (REFRESHES, [(r,) for r in ("success", "grace", "invalid", "expired", "reused")]),
    (FORCED_LOGOUTS, [("user",), ("session",)]),
    (LOCKOUTS, [("delay",), ("hard",)]),
    (OTP_SENT, [(c, p) for c, purposes in (("email", ("login", "step_up", "email_confirm", "email_change")),
                                          ("sms", ("login", "step_up", "sms_confirm", "phone_change")))
                for p in purposes]),
    (MFA_RESULTS, [(m, r) for m in ("totp", "backup_code", "email_otp", "sms_otp") for r in ("success", "failure")]),
    (AUTHZ_CHECKS, [("allowed",), ("denied",)]),
]


def zero_known(counters: list[tuple[Counter, list[tuple[str, ...]]]]) -> None:
    for counter, label_sets in counters:
        for labels in label_sets:
            counter.labels(*labels)


zero_known(KNOWN_LABELS)

# name -> function yielding prometheus_client metric families at scrape time
STATE_COLLECTORS: dict[str, Callable[[], Iterable]] = {}


def state_collector(name: str):
    def register(fn: Callable[[], Iterable]) -> Callable[[], Iterable]:
        STATE_COLLECTORS[name] = fn
        return fn

    return register


class StateCollector:
    """prometheus_client collector over the registered state functions."""

    def collect(self):
        for fn in STATE_COLLECTORS.values():
            try:
                yield from fn()
            except Exception:  # noqa: BLE001, S112 - a failing probe must not break the whole scrape
                continue
