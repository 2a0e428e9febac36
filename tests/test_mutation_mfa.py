"""Second factors (accounts/security/mfa.py) at the edges the mutation run
(scripts/mutation.py) found untested."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from django.utils import timezone

from accounts.models import BackupCode, MfaChallenge, TotpDevice
from accounts.security import mfa
from audit.models import AuditEvent
from audit.services import Actor
from custos.exceptions import Conflict, NotFound, RateLimited
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
T = 1_700_000_010  # inside a 30 s step


@pytest.fixture
def notices(monkeypatch):
    sent = []
    monkeypatch.setattr(mfa.notices, "notify", lambda **kw: sent.append(kw))
    return sent


def _enable(user) -> tuple[str, list[str]]:
    secret = mfa.totp_setup(user=user)["secret"]
    return secret, mfa.totp_confirm(user=user, code=pyotp.TOTP(secret).now())


def test_setup_hands_out_a_160_bit_seed_and_its_uri(user, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "TOTP_ISSUER": "Fly"}
    out = mfa.totp_setup(user=user)
    assert len(out["secret"]) == 32 and "=" not in out["secret"]  # 20 bytes, base32, unpadded
    uri = urlsplit(out["otpauth_uri"])
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", f"/Fly:{user.username}")
    assert parse_qs(uri.query) == {"secret": [out["secret"]], "issuer": ["Fly"], "algorithm": ["SHA1"],
                                   "digits": ["6"], "period": ["30"]}
    assert out["qr_svg"].startswith("<svg")
    again = mfa.totp_setup(user=user)  # an unconfirmed device is replaced
    assert TotpDevice.objects.filter(user=user).count() == 1 and again["secret"] != out["secret"]
    assert mfa.mfa_enabled(user.pk) is False and mfa.mfa_methods(user.pk) == []


def test_setup_labels_an_account_without_a_username(settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "TOTP_ISSUER": "Fly"}
    user = UserFactory(username=None, email="someone@example.com")
    assert unquote(urlsplit(mfa.totp_setup(user=user)["otpauth_uri"]).path) == "/Fly:someone@example.com"


def test_a_code_verifies_once_within_the_tolerance(user):
    secret = mfa.totp_setup(user=user)["secret"]
    device = TotpDevice.objects.get(user=user)
    totp = pyotp.TOTP(secret)
    assert mfa._verify_totp(device, totp.at(T - 60), now=T) is False
    assert mfa._verify_totp(device, totp.at(T + 60), now=T) is False
    assert mfa._verify_totp(device, totp.at(T - 30), now=T) is True  # one step of drift either way
    assert mfa._verify_totp(device, totp.at(T - 30), now=T) is False  # and once only
    assert mfa._verify_totp(device, totp.at(T), now=T) is True
    assert mfa._verify_totp(device, totp.at(T + 30), now=T) is True
    assert mfa._verify_totp(device, totp.at(T + 30), now=T) is False
    for bad in ("12345", "1234567", "12345a", "", 123456):
        assert mfa._verify_totp(device, bad, now=T) is False


def test_confirm_turns_mfa_on_with_ten_backup_codes(user, notices):
    with pytest.raises(NotFound):
        mfa.totp_confirm(user=user, code="123456")  # nothing to confirm
    secret = mfa.totp_setup(user=user)["secret"]
    with pytest.raises(mfa.MfaInvalid):
        mfa.totp_confirm(user=user, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    with pytest.raises(mfa.MfaInvalid):
        mfa.totp_confirm(user=user, code=123456)
    assert mfa.mfa_enabled(user.pk) is False
    codes = mfa.totp_confirm(user=user, code=pyotp.TOTP(secret).now())
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        head, _, tail = code.partition("-")
        assert len(head) == len(tail) == 5 and set(head + tail) <= set(mfa.BACKUP_ALPHABET)
    device = TotpDevice.objects.get(user=user)
    assert device.confirmed is True and device.confirmed_at is not None
    assert mfa.mfa_enabled(user.pk) is True and mfa.mfa_methods(user.pk) == ["totp", "backup_code"]
    event = AuditEvent.objects.get(action="mfa.enabled")
    assert (event.subject_user_id, event.actor_id, event.metadata) == (user.pk, str(user.pk), {"method": "totp"})
    assert notices == [{"user_id": user.pk, "kind": "mfa_enabled"}]
    with pytest.raises(Conflict) as caught:
        mfa.totp_setup(user=user)
    assert caught.value.code == "mfa_already_enabled"


def test_confirm_failures_are_throttled(user, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "MFA_FAILURES_DELAY_AFTER": 2}
    secret = mfa.totp_setup(user=user)["secret"]
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(mfa.MfaInvalid):
            mfa.totp_confirm(user=user, code=wrong)
    with pytest.raises(RateLimited):
        mfa.totp_confirm(user=user, code=pyotp.TOTP(secret).now())


def test_methods_without_unused_backup_codes(user):
    _enable(user)
    BackupCode.objects.filter(user=user).update(used_at=timezone.now())
    assert mfa.mfa_methods(user.pk) == ["totp"]


def test_second_factor_by_totp_or_backup_code(user):
    secret, codes = _enable(user)
    TotpDevice.objects.filter(user=user).update(last_t=-1)
    assert mfa.second_factor_check(user_id=user.pk, code=f" {pyotp.TOTP(secret).now()} ", method=None) == "totp"
    first, second, third = codes[:3]
    assert mfa.second_factor_check(user_id=user.pk, code=first.upper(), method=None) == "backup_code"
    assert mfa.second_factor_check(user_id=user.pk, code=second.replace("-", " "), method="backup_code") == (
        "backup_code")
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=first, method=None)  # used up
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=third, method="totp")  # not a TOTP
    assert BackupCode.objects.get(user=user, code_hash=mfa.sha256_hex(third.replace("-", ""))).used_at is None
    TotpDevice.objects.filter(user=user).update(last_t=-1)
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=pyotp.TOTP(secret).now(), method="backup_code")
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=None, method=None)


def test_an_unconfirmed_device_is_no_second_factor(user):
    secret = mfa.totp_setup(user=user)["secret"]
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=pyotp.TOTP(secret).now(), method=None)


def test_a_failed_second_factor_is_audited_with_its_door(user):
    _enable(user)
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code="abcde-fghjk", method="backup_code", channel="console")
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code="999999", method=None)
    events = list(AuditEvent.objects.filter(action="mfa.failed").order_by("id"))
    assert [e.metadata for e in events] == [{"method": "backup_code", "channel": "console"},
                                            {"method": "any", "channel": "api"}]
    assert all(e.result == "failure" and e.subject_user_id == user.pk for e in events)


def test_second_factor_failures_are_throttled_and_a_success_forgives_them(user, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "MFA_FAILURES_DELAY_AFTER": 3}
    _, codes = _enable(user)

    def fail() -> None:
        with pytest.raises(mfa.MfaInvalid):
            mfa.second_factor_check(user_id=user.pk, code="zzzzz-zzzzz", method=None)

    fail()
    fail()
    assert mfa.second_factor_check(user_id=user.pk, code=codes[0], method=None) == "backup_code"
    for _ in range(3):
        fail()
    with pytest.raises(RateLimited):
        mfa.second_factor_check(user_id=user.pk, code=codes[1], method=None)


def test_regenerating_backup_codes_voids_the_old_ones(user):
    with pytest.raises(Conflict) as caught:
        mfa.backup_codes_regenerate(user=user)
    assert caught.value.code == "mfa_not_enabled"
    _, old = _enable(user)
    new = mfa.backup_codes_regenerate(user=user)
    assert len(new) == 10 and not set(new) & set(old)
    assert BackupCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code=old[0], method=None)
    assert mfa.second_factor_check(user_id=user.pk, code=new[0], method=None) == "backup_code"
    assert AuditEvent.objects.filter(action="mfa.backup_codes_regenerated", subject_user_id=user.pk).count() == 1


@pytest.mark.parametrize(("reason", "told"), [("user", True), ("unverified_claim", False)])
def test_disable_removes_the_factor_audits_and_tells_the_owner(user, notices, reason, told):
    _enable(user)
    notices.clear()
    mfa.totp_disable(user_id=user.pk, actor=Actor.user(user.pk), reason=reason)
    assert not TotpDevice.objects.filter(user=user).exists()
    assert not BackupCode.objects.filter(user=user, used_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="mfa.disabled")
    assert event.metadata == {"method": "totp", "reason": reason} and event.subject_user_id == user.pk
    assert notices == ([{"user_id": user.pk, "kind": "mfa_disabled"}] if told else [])
    mfa.totp_disable(user_id=user.pk, actor=Actor.user(user.pk))  # nothing left: nothing recorded
    assert AuditEvent.objects.filter(action="mfa.disabled").count() == 1


def test_staff_reset_is_recorded_as_such(user):
    _enable(user)
    mfa.admin_reset(user_id=user.pk, actor=Actor.user(1))
    assert AuditEvent.objects.get(action="mfa.disabled").metadata["reason"] == "staff_reset"
    assert mfa.mfa_enabled(user.pk) is False


def test_a_challenge_lives_its_ttl_and_closes_once(user, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "MFA_TOKEN_TTL": 300}
    out = mfa.challenge_issue(user=user, first_factor="pwd", risk={"new_device": True})
    assert out["mfa_required"] is True and out["expires_in"] == 300 and out["methods"] == ["totp"]
    ch = MfaChallenge.objects.get(token_hash=mfa.sha256_hex(out["mfa_token"]))
    assert ch.expires_at - ch.created_at == timedelta(seconds=300) and ch.first_factor == "pwd"
    assert mfa.challenge_spend(token=out["mfa_token"]).pk == ch.pk
    for bad in (None, 5, "", "x" * 257, "unknown"):
        with pytest.raises(mfa.MfaTokenInvalid):
            mfa.challenge_spend(token=bad)
    mfa.challenge_close(ch)
    with pytest.raises(mfa.MfaInvalid):
        mfa.challenge_close(ch)
    with pytest.raises(mfa.MfaTokenInvalid):
        mfa.challenge_spend(token=out["mfa_token"])


def test_an_expired_challenge_is_refused(user):
    out = mfa.challenge_issue(user=user, first_factor="pwd", risk={})
    MfaChallenge.objects.update(expires_at=timezone.now())
    with pytest.raises(mfa.MfaTokenInvalid):
        mfa.challenge_spend(token=out["mfa_token"])
    MfaChallenge.objects.update(expires_at=timezone.now() + timedelta(seconds=60))
    assert mfa.challenge_spend(token=out["mfa_token"]).user_id == user.pk


def test_a_challenge_names_the_users_methods(user):
    _enable(user)
    assert mfa.challenge_issue(user=user, first_factor="otp", risk={})["methods"] == ["totp", "backup_code"]


def test_second_factor_results_are_counted_by_method(user):
    from prometheus_client import REGISTRY

    def count(method: str, result: str) -> float:
        return REGISTRY.get_sample_value("custos_mfa_results_total", {"method": method, "result": result}) or 0.0

    _, codes = _enable(user)
    before = {k: count(*k) for k in (("any", "failure"), ("backup_code", "failure"), ("backup_code", "success"))}
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code="zzzzz-zzzzz", method=None)
    with pytest.raises(mfa.MfaInvalid):
        mfa.second_factor_check(user_id=user.pk, code="zzzzz-zzzzz", method="backup_code")
    mfa.second_factor_check(user_id=user.pk, code=codes[0], method=None)
    assert {k: count(*k) - v for k, v in before.items()} == {("any", "failure"): 1, ("backup_code", "failure"): 1,
                                                            ("backup_code", "success"): 1}


def test_a_challenge_expires_at_its_expiry_itself(user, monkeypatch):
    from types import SimpleNamespace

    out = mfa.challenge_issue(user=user, first_factor="pwd", risk={})
    ch = MfaChallenge.objects.get(token_hash=mfa.sha256_hex(out["mfa_token"]))
    monkeypatch.setattr(mfa, "timezone", SimpleNamespace(now=lambda: ch.expires_at))
    with pytest.raises(mfa.MfaTokenInvalid):
        mfa.challenge_spend(token=out["mfa_token"])
