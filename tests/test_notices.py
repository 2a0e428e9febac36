"""Telling the owner (issue 14): security changes and suspicious sign-ins reach the account's
verified addresses, after the change commits, without a secret in them."""
from __future__ import annotations

import pyotp
import pytest

from accounts.models import TotpDevice
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _subjects(mailoutbox, to: str) -> list[str]:
    return [m.subject for m in mailoutbox if m.to == [to]]


def _enrol(user) -> pyotp.TOTP:
    from accounts.security import mfa

    totp = pyotp.TOTP(mfa.totp_setup(user=user)["secret"])
    mfa.totp_confirm(user=user, code=totp.now())
    return totp


def test_mfa_on_and_off_are_told_to_verified_addresses_only(signing_key, mailoutbox):
    from accounts.security import mfa
    from audit.services import Actor

    proven = UserFactory()
    unproven = UserFactory(email_verified_at=None)
    for user in (proven, unproven):
        _enrol(user)
        mfa.totp_disable(user_id=user.pk, actor=Actor.user(user.pk))
    assert _subjects(mailoutbox, proven.email) == ["Two-factor authentication is on",
                                                   "Two-factor authentication is off"]
    assert _subjects(mailoutbox, unproven.email) == []  # an unproven address may be someone else's


def test_a_notice_waits_for_the_commit(signing_key, mailoutbox):
    from django.db import transaction

    from accounts import notices

    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        notices.notify(user_id=user.pk, kind="password_changed")
        raise RuntimeError("the change rolls back")
    assert mailoutbox == []
    with transaction.atomic():
        notices.notify(user_id=user.pk, kind="password_changed")
        assert mailoutbox == []  # not before the commit
    assert _subjects(mailoutbox, user.email) == ["Your Fly password was changed"]


def test_right_password_then_wrong_second_factor_warns_the_owner_once(api, signing_key, mailoutbox):
    user = UserFactory()
    totp = _enrol(user)
    mailoutbox.clear()
    challenge = api.post("/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json").json()
    wrong = str((int(totp.now()) + 500_000) % 1_000_000).zfill(6)
    for _ in range(2):
        r = api.post("/v1/auth/mfa/verify", {"mfa_token": challenge["mfa_token"], "code": wrong, "method": "totp"},
                     format="json")
        assert r.status_code == 401
    assert _subjects(mailoutbox, user.email) == ["Someone has your Fly password"]
    body = mailoutbox[0].body
    assert wrong not in body and challenge["mfa_token"] not in body and PASSWORD not in body


def test_a_wrong_password_alone_sends_nothing(api, signing_key, mailoutbox):
    user = UserFactory()
    _enrol(user)
    mailoutbox.clear()
    r = api.post("/v1/auth/login", {"username": user.username, "password": "not the password"}, format="json")
    assert r.status_code == 401 and mailoutbox == []


def test_a_sign_in_from_a_new_device_is_told(api, signing_key, mailoutbox):
    user = UserFactory()
    login(api, user.username, HTTP_X_DEVICE_ID="phone-1")
    assert mailoutbox == []  # a first sign-in has nothing to be unusual against
    login(api, user.username, HTTP_X_DEVICE_ID="laptop-2")
    assert _subjects(mailoutbox, user.email) == ["New sign-in to your Fly account"]
    assert "a device or browser you have not used before" in mailoutbox[0].body
    assert not TotpDevice.objects.filter(user=user).exists()
