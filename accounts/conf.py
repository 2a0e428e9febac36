"""The accounts room's settings (settings.CUSTOS_ACCOUNTS, filled from CUSTOS_* variables in
config/settings.py), read through one typed object: `conf().otp_ttl`."""
from __future__ import annotations

from dataclasses import dataclass

from custos.conf import cached_conf, from_setting


@dataclass(frozen=True)
class AccountsSettings:
    sms_backend: str = "accounts.sms.ConsoleSmsBackend"
    sms_http_url: str = ""
    sms_http_token: str = ""
    default_phone_region: str | None = None
    reset_token_ttl: int = 1800
    invite_token_ttl: int = 7 * 24 * 3600
    reset_url: str = "http://127.0.0.1:8000/reset-password#token={token}"
    invite_url: str = "http://127.0.0.1:8000/accept-invite#token={token}"
    deleted_retention_days: int = 30
    otp_ttl: int = 300
    otp_max_attempts: int = 5
    otp_resend_cooldown: int = 60
    otp_self_registration: bool = True
    # login security (accounts/security): brute force, second factors, risk
    login_delay_after: int = 5
    login_delay_max: int = 900
    login_hard_lock_after: int = 100
    ip_failures_limit: int = 50
    ip_failures_window: int = 900
    ip_requests_limit: int = 300
    ip_requests_window: int = 60
    otp_dest_sends_per_hour: int = 10
    otp_ip_sends_per_hour: int = 30
    register_ip_per_hour: int = 30
    reset_ip_per_hour: int = 30
    reset_dest_per_hour: int = 5
    # a sign-in to an account with no verified email or phone answers 403 email_unverified
    require_verified_email: bool = False
    mfa_token_ttl: int = 300
    mfa_failures_delay_after: int = 5
    totp_issuer: str = "Fly"
    risk_max_sessions: int = 10
    risk_travel_kmh: int = 1000
    risk_failure_burst: int = 3
    risk_notify_at: int = 20
    risk_step_up_at: int = 60
    risk_deny_at: int = 101
    profile_extra_max_bytes: int = 8192
    profile_extra_max_depth: int = 5
    # the first-time setup link (manage.py setup_link) works this long
    setup_link_ttl: int = 24 * 3600
    # sign-in history (login_history) is kept this long, then removed by accounts.tasks.purge_spent
    login_history_retention_days: int = 180


@cached_conf
def conf() -> AccountsSettings:
    return from_setting(AccountsSettings, "CUSTOS_ACCOUNTS")
