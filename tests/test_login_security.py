"""Brute-force limits, OTP login, TOTP and backup codes, the MFA challenge, re-auth by code,
and abnormal-login detection."""
from __future__ import annotations

import re
import threading
import time

import pyotp
import pytest
from django.test import Client

from accounts.models import LoginEvent, TotpDevice, User
from audit.models import AuditEvent
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _login(api, username: str, password: str = PASSWORD, **extra):
    return api.post("/v1/auth/login", {"username": username, "password": password}, format="json", **extra)


def _strip(r) -> tuple[int, dict, str | None]:
    body = {k: v for k, v in r.json().items() if k != "request_id"}
    return r.status_code, body, r.get("Retry-After") is not None and "set" or None


@pytest.fixture
def fast_limits(settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "LOGIN_DELAY_AFTER": 3, "LOGIN_HARD_LOCK_AFTER": 6}
    return settings


# ---- brute force ----------------------------------------------------------------------------
def test_delay_after_consecutive_failures_even_for_the_right_password(api, user, signing_key, fast_limits):
    for _ in range(3):
        assert _login(api, user.username, "wrong!").status_code == 401
    r = _login(api, user.username)  # right password, inside the delay
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" and int(r["Retry-After"]) >= 1
    time.sleep(1.1)
    assert _login(api, user.username).status_code == 200  # the delay passed; success resets the count
    for _ in range(3):
        assert _login(api, user.username, "wrong!").status_code == 401
    assert AuditEvent.objects.filter(action="login.throttled", subject_user_id=user.pk).exists()


def test_unknown_accounts_are_limited_identically(api, user, signing_key, fast_limits):
    answers = {}
    for name in (user.username, "no-such-user"):
        seq = [_strip(_login(api, name, "wrong!")) for _ in range(5)]
        answers[name] = seq
    assert answers[user.username] == answers["no-such-user"]
    assert [s for s, _, _ in answers["no-such-user"]] == [401, 401, 401, 429, 429]


def test_parallel_guesses_cannot_slip_past_the_limit(signing_key, fast_limits):
    user = UserFactory()
    barrier = threading.Barrier(12)
    codes: list[int] = []

    def guess() -> None:
        from django.db import connection

        try:
            barrier.wait()
            codes.append(Client().post("/v1/auth/login", {"username": user.username, "password": "nope"},
                                       content_type="application/json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(codes) == 12
    assert codes.count(401) <= 4 and codes.count(429) >= 8  # 3 free tries + at most one per delay window


FRESH = "a fresh start after the lockout"


def test_hard_lock_then_reset_unlocks(api, user, signing_key, fast_limits, mailoutbox):
    for i in range(6):
        time.sleep(0 if i < 3 else 2 ** (i - 3) + 0.05)  # wait out each delay: these are real attempts
        assert _login(api, user.username, "wrong!").status_code == 401, i
    user.refresh_from_db()
    assert user.status == User.Status.LOCKED and user.status_reason == "too_many_failures"
    lock = AuditEvent.objects.get(action="user.locked", subject_user_id=user.pk)
    assert lock.actor_type == "system" and lock.actor_id == "bruteforce"
    # a lock never blocks password reset, and the reset lifts it
    api.post("/v1/auth/password/reset/request", {"identifier": user.email}, format="json")
    token = re.search(r"token=(\S+)", mailoutbox[-1].body).group(1)
    assert api.post("/v1/auth/password/reset/confirm", {"token": token, "new_password": FRESH},
                    format="json").status_code == 204
    user.refresh_from_db()
    assert user.status == User.Status.ACTIVE
    unlock = AuditEvent.objects.get(action="user.unlocked", subject_user_id=user.pk)
    assert unlock.metadata["reason"] == "password_reset"
    # ...and the delay: proving the mailbox forgives the account's failed attempts
    assert _login(api, user.username, FRESH).status_code == 200


def test_password_spraying_from_one_ip(api, signing_key, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "IP_FAILURES_LIMIT": 3}
    users = [UserFactory() for _ in range(5)]
    ip = {"REMOTE_ADDR": "198.51.100.7"}
    for u in users[:3]:
        assert _login(api, u.username, "Summer2026!", **ip).status_code == 401
    assert _login(api, users[3].username, "Summer2026!", **ip).status_code == 429
    assert _login(api, users[4].username, PASSWORD, **ip).status_code == 429
    assert _login(api, users[4].username, PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 200


def test_forwarded_for_is_honoured_only_from_trusted_proxies(api, signing_key, settings):
    from custos.netutil import _trusted_networks

    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "IP_FAILURES_LIMIT": 2}
    users = [UserFactory() for _ in range(4)]
    # an untrusted client forging X-Forwarded-For is still counted as itself
    for i, u in enumerate(users[:2]):
        _login(api, u.username, "x!", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert _login(api, users[2].username, PASSWORD, REMOTE_ADDR="203.0.113.9",
                  HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    # behind a trusted proxy, each real client has its own budget (the proxy is not locked out)
    settings.CUSTOS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    _trusted_networks.cache_clear()
    try:
        for i, u in enumerate(users[:2]):
            _login(api, u.username, "x!", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        assert _login(api, users[3].username, PASSWORD, REMOTE_ADDR="10.0.0.5",
                      HTTP_X_FORWARDED_FOR="192.0.2.50").status_code == 200
    finally:
        _trusted_networks.cache_clear()


# ---- OTP login ------------------------------------------------------------------------------
def _mail_code(mailoutbox) -> str:
    return re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)


def test_otp_login_known_and_unknown_alike(api, user, signing_key, mailoutbox, settings):
    a = api.post("/v1/auth/otp/send", {"channel": "email", "destination": user.email}, format="json")
    b = api.post("/v1/auth/otp/send", {"channel": "email", "destination": "stranger@example.com"}, format="json")
    assert a.status_code == b.status_code == 202 and a.json() == b.json() == {"retry_after": 60}
    code = re.search(r"\b(\d{6})\b", mailoutbox[0].body).group(1)
    assert mailoutbox[0].to == [user.email]
    # a resend inside the cooldown is refused for everyone
    r = api.post("/v1/auth/otp/send", {"channel": "email", "destination": user.email}, format="json")
    assert r.status_code == 429 and r["Retry-After"]
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": user.email, "code": code},
                 format="json")
    assert r.status_code == 200
    import jwt

    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["amr"] == ["otp", "email"]
    # single use
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": user.email, "code": code},
                 format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_invalid"
    # self-registration by OTP creates the stranger's account, with the address proven
    code2 = _mail_code(mailoutbox)
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": "stranger@example.com",
                                         "code": code2}, format="json")
    assert r.status_code == 200
    stranger = User.objects.get(email="stranger@example.com")
    assert stranger.email_verified_at is not None and not stranger.has_usable_password()
    dump = str(list(AuditEvent.objects.values()))
    assert code not in dump and code2 not in dump


def test_otp_wrong_tries_kill_the_code_and_no_self_registration(api, user, signing_key, mailoutbox,
                                                                settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "OTP_SELF_REGISTRATION": False,
                                "LOGIN_DELAY_AFTER": 50}
    api.post("/v1/auth/otp/send", {"channel": "email", "destination": user.email}, format="json")
    code = _mail_code(mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": user.email, "code": wrong},
                     format="json")
        assert r.status_code == 401
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": user.email, "code": code},
                 format="json")
    assert r.status_code == 401  # five wrong tries spent the code
    n = len(mailoutbox)
    api.post("/v1/auth/otp/send", {"channel": "email", "destination": "nobody@example.com"}, format="json")
    assert len(mailoutbox) == n  # unknown destinations get nothing when self-registration is off
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": "nobody@example.com",
                                         "code": "123456"}, format="json")
    assert r.status_code == 401 and not User.objects.filter(email="nobody@example.com").exists()


def test_otp_sms_login(api, signing_key, settings):
    from accounts.sms import MemorySmsBackend

    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "SMS_BACKEND": "accounts.sms.MemorySmsBackend"}
    MemorySmsBackend.outbox.clear()
    r = api.post("/v1/auth/otp/send", {"channel": "sms", "destination": "+44 20 7946 0958"}, format="json")
    assert r.status_code == 202
    to, text = MemorySmsBackend.outbox[-1]
    code = re.search(r"\b(\d{6})\b", text).group(1)
    r = api.post("/v1/auth/otp/verify", {"channel": "sms", "destination": to, "code": code}, format="json")
    assert r.status_code == 200 and User.objects.get(phone="+442079460958").phone_verified_at


# ---- TOTP -----------------------------------------------------------------------------------
RFC6238 = [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
           (2000000000, "279037"), (20000000000, "353130")]


def test_rfc6238_vectors(user):
    from accounts.security.mfa import _verify_totp
    from custos.crypto import seal

    key = b"12345678901234567890"
    for at, code in RFC6238:
        device = TotpDevice.objects.create(user=user, name="t", key_sealed=seal(key.hex()), tolerance=0)
        assert _verify_totp(device, code, now=at), at
        assert not _verify_totp(device, code, now=at), "a code is accepted once"
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        device.delete()
        device = TotpDevice.objects.create(user=user, name="t", key_sealed=seal(key.hex()), tolerance=0)
        assert not _verify_totp(device, wrong, now=at)
        device.delete()


def _enrol(api, user):
    tok = login(api, user.username)["access_token"]
    r = api.post("/v1/mfa/totp/setup", **bearer(tok))
    assert r.status_code == 403  # needs re-auth
    reauth = api.post("/v1/auth/reauth", {"password": PASSWORD}, format="json", **bearer(tok)).json()
    r = api.post("/v1/mfa/totp/setup", **bearer(tok), HTTP_X_REAUTH_TOKEN=reauth["reauth_token"])
    assert r.status_code == 200
    setup = r.json()
    assert setup["otpauth_uri"].startswith("otpauth://totp/") and setup["qr_svg"].startswith("<svg")
    totp = pyotp.TOTP(setup["secret"])
    device = TotpDevice.objects.get(user=user)
    assert setup["secret"] not in device.key_sealed and not device.confirmed  # sealed at rest
    r = api.post("/v1/mfa/totp/confirm", {"code": totp.now()}, format="json", **bearer(tok))
    assert r.status_code == 200
    codes = r.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    from accounts.models import BackupCode

    assert not BackupCode.objects.filter(code_hash__in=[c.replace("-", "") for c in codes]).exists()
    return tok, totp, codes


def _wait_next_step(totp) -> None:
    time.sleep(30 - time.time() % 30 + 0.05)


def test_totp_login_flow(api, user, signing_key):
    tok, totp, codes = _enrol(api, user)
    assert api.get("/v1/users/me", **bearer(tok)).json()["mfa_enabled"] is True
    # a wrong password answers as for anyone; the right one gets the challenge, not tokens
    wrong = _login(api, user.username, "wrong!")
    nomfa = _login(api, UserFactory().username, "wrong!")
    assert _strip(wrong) == _strip(nomfa)
    r = _login(api, user.username)
    body = r.json()
    assert r.status_code == 200 and body["mfa_required"] is True and "access_token" not in body
    assert body["methods"] == ["totp", "backup_code"] and body["expires_in"] == 300
    # the mfa_token is no access token anywhere else
    assert api.get("/v1/users/me", **bearer(body["mfa_token"])).status_code == 401
    assert api.post("/v1/auth/refresh", {"refresh_token": body["mfa_token"]}, format="json").status_code == 401
    r = api.post("/v1/auth/mfa/verify", {"mfa_token": body["mfa_token"], "code": codes[0]}, format="json")
    assert r.status_code == 200
    import jwt

    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["amr"] == ["pwd", "kba", "mfa"]
    # single use: the token, and the backup code
    assert api.post("/v1/auth/mfa/verify", {"mfa_token": body["mfa_token"], "code": codes[1]},
                    format="json").json()["error"]["code"] == "mfa_invalid"
    ch = _login(api, user.username).json()
    assert api.post("/v1/auth/mfa/verify", {"mfa_token": ch["mfa_token"], "code": codes[0]},
                    format="json").status_code == 401
    _wait_next_step(totp)  # the confirmation used this step's code
    r = api.post("/v1/auth/mfa/verify", {"mfa_token": ch["mfa_token"], "code": totp.now(), "method": "totp"},
                 format="json")
    assert r.status_code == 200
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["amr"] == ["pwd", "otp", "mfa"]
    # replaying the same TOTP code fails
    ch = _login(api, user.username).json()
    assert api.post("/v1/auth/mfa/verify", {"mfa_token": ch["mfa_token"], "code": totp.now()},
                    format="json").status_code == 401


def test_one_totp_code_in_two_parallel_requests(api, user, signing_key):
    tok, totp, _ = _enrol(api, user)
    _wait_next_step(totp)
    challenges = [_login(api, user.username).json()["mfa_token"] for _ in range(2)]
    code = totp.now()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def submit(mfa_token: str) -> None:
        from django.db import connection

        try:
            barrier.wait()
            results.append(Client().post("/v1/auth/mfa/verify", {"mfa_token": mfa_token, "code": code},
                                         content_type="application/json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(t,)) for t in challenges]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 401]


def test_mfa_management_needs_reauth_and_staff_can_reset(api, user, signing_key):
    tok, totp, codes = _enrol(api, user)
    assert api.delete("/v1/mfa/totp", **bearer(tok)).status_code == 403
    assert api.post("/v1/mfa/backup-codes", **bearer(tok)).status_code == 403
    # re-auth with a second factor works too
    r = api.post("/v1/auth/reauth", {"code": codes[2]}, format="json", **bearer(tok))
    assert r.status_code == 200
    fresh = api.post("/v1/mfa/backup-codes", **bearer(tok), HTTP_X_REAUTH_TOKEN=r.json()["reauth_token"]).json()
    assert len(fresh["backup_codes"]) == 10
    ch = _login(api, user.username).json()
    assert api.post("/v1/auth/mfa/verify", {"mfa_token": ch["mfa_token"], "code": codes[3]},
                    format="json").status_code == 401  # the old set is void
    from tests.conftest import grant

    staff = UserFactory(user_type="staff")
    grant(staff, "platform_admin")
    stok = login(api, staff.username)["access_token"]
    assert api.post(f"/v1/admin/users/{user.pk}/mfa/reset", **bearer(stok)).status_code == 204
    assert "access_token" in _login(api, user.username).json()
    ev = AuditEvent.objects.get(action="mfa.disabled", subject_user_id=user.pk)
    assert ev.actor_id == str(staff.pk) and ev.metadata["reason"] == "staff_reset"


def test_mfa_throttling_counts_per_user_across_factors(api, user, signing_key, settings):
    tok, totp, codes = _enrol(api, user)
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "MFA_FAILURES_DELAY_AFTER": 3}
    statuses = []
    for i in range(5):
        ch = _login(api, user.username).json()["mfa_token"]
        method = "totp" if i % 2 else "backup_code"
        statuses.append(api.post("/v1/auth/mfa/verify", {"mfa_token": ch, "code": "00000-00000" if method ==
                                                         "backup_code" else "000000", "method": method},
                                 format="json").status_code)
    assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:]


# ---- risk -----------------------------------------------------------------------------------
def test_new_device_is_noted_and_the_user_told(api, user, signing_key, mailoutbox):
    login(api, user.username, HTTP_X_DEVICE_ID="phone-1")
    login(api, user.username, HTTP_X_DEVICE_ID="phone-1")
    assert not AuditEvent.objects.filter(action="security.anomaly").exists()
    login(api, user.username, HTTP_X_DEVICE_ID="laptop-9")
    ev = AuditEvent.objects.get(action="security.anomaly")
    assert ev.metadata["reasons"] == ["new_device"] and ev.metadata["score"] == 20
    assert "New sign-in" in mailoutbox[-1].subject and "device" in mailoutbox[-1].body


def test_new_country_and_impossible_travel_ask_for_a_code(api, user, signing_key, mailoutbox, settings):
    from custos.netutil import _trusted_networks

    settings.CUSTOS_TRUSTED_PROXIES = ["127.0.0.1/32"]
    _trusted_networks.cache_clear()
    try:
        via = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_DEVICE_ID": "d1"}
        login(api, user.username, HTTP_X_FORWARDED_FOR="8.8.8.8", **via)  # United States
        r = _login(api, user.username, HTTP_X_FORWARDED_FOR="81.2.69.160", **via)  # Great Britain, minutes later
        body = r.json()
        assert body["mfa_required"] is True and body["methods"] == ["email_otp"]
        ev = AuditEvent.objects.filter(action="security.anomaly").latest("id")
        assert set(ev.metadata["reasons"]) == {"new_country", "impossible_travel"}
        assert ev.metadata["country"] == "GB" and ev.metadata["decision"] == "step_up"
        code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
        r = api.post("/v1/auth/mfa/verify", {"mfa_token": body["mfa_token"], "code": code, "method": "email_otp"},
                     format="json")
        assert r.status_code == 200
        history = api.get("/v1/users/me/logins", **bearer(r.json()["access_token"])).json()["results"]
        assert [h["result"] for h in history[:3]] == ["success", "challenged", "success"]
        assert history[1]["country"] == "GB" and history[2]["country"] == "US"
    finally:
        _trusted_networks.cache_clear()


def test_failure_burst_and_session_cap(api, user, signing_key, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "RISK_MAX_SESSIONS": 2, "LOGIN_DELAY_AFTER": 50}
    login(api, user.username)
    for _ in range(3):
        _login(api, user.username, "wrong!")
    login(api, user.username)
    ev = AuditEvent.objects.filter(action="security.anomaly").latest("id")
    assert ev.metadata["reasons"] == ["failure_burst"]
    login(api, user.username)
    ev = AuditEvent.objects.filter(action="security.anomaly").latest("id")
    assert "too_many_sessions" in ev.metadata["reasons"]


def test_deny_policy(api, user, signing_key, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "RISK_DENY_AT": 20}
    login(api, user.username, HTTP_X_DEVICE_ID="a")
    r = _login(api, user.username, HTTP_X_DEVICE_ID="b")
    assert r.status_code == 403 and r.json()["error"]["code"] == "login_denied"
    assert LoginEvent.objects.filter(user=user, result="denied").count() == 1


def test_staff_see_login_history(api, user, signing_key):
    from tests.conftest import grant

    login(api, user.username)
    staff = UserFactory(user_type="staff")
    grant(staff, "platform_admin")
    tok = login(api, staff.username)["access_token"]
    rows = api.get(f"/v1/admin/users/{user.pk}/logins", **bearer(tok)).json()["results"]
    assert rows and rows[0]["result"] == "success"
    other = login(api, UserFactory().username)["access_token"]
    assert api.get(f"/v1/admin/users/{user.pk}/logins", **bearer(other)).status_code == 404


class _DeleteSpy:
    """Stands in for the cache behind custos.cachebatch and notes each delete_many round trip."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def delete_many(self, keys):
        self.calls.append(list(keys))
        return self.real.delete_many(keys)


def test_otp_and_mfa_sign_ins_drop_their_cache_keys_in_one_round_trip(api, user, signing_key, mailoutbox,
                                                                       monkeypatch):
    """Like a password sign-in: the throttle counters it forgives and the /users/me copy its
    last_login_at made stale leave together, after the commit."""
    from accounts import selectors
    from custos import cachebatch

    monkeypatch.setattr(selectors, "_me_cache_shared", lambda: True)  # /users/me cached and dropped as with Redis
    spy = _DeleteSpy(cachebatch.cache)
    monkeypatch.setattr(cachebatch, "cache", spy)
    me_key = f"me:v2:{user.pk}"

    api.post("/v1/auth/otp/send", {"channel": "email", "destination": user.email}, format="json")
    spy.calls.clear()
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": user.email, "code": _mail_code(mailoutbox)},
                 format="json")
    assert r.status_code == 200
    assert len(spy.calls) == 1 and me_key in spy.calls[0] and len(spy.calls[0]) > 1, spy.calls

    tok, totp, codes = _enrol(api, user)
    ch = _login(api, user.username).json()
    spy.calls.clear()
    r = api.post("/v1/auth/mfa/verify", {"mfa_token": ch["mfa_token"], "code": codes[0]}, format="json")
    assert r.status_code == 200
    assert len(spy.calls) == 1 and me_key in spy.calls[0] and len(spy.calls[0]) > 1, spy.calls
