"""Pre-account hijacking (issue 14): an address typed at registration proves nothing until
its owner proves it, and the owner's proof from outside the account voids what the one who
registered it could have set up (accounts.services.addresses)."""
from __future__ import annotations

import re

import pytest

from accounts.models import TotpDevice, User
from audit.models import AuditEvent
from tests.conftest import bearer, login

pytestmark = pytest.mark.django_db(transaction=True)
ATTACKER_PW = "attacker's long passphrase 2026"


def _code(mail) -> str:
    return re.search(r"\b(\d{6})\b", mail.body).group(1)


def _otp_login(api, mailoutbox, address: str) -> dict:
    assert api.post("/v1/auth/otp/send", {"channel": "email", "destination": address},
                    format="json").status_code == 202
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": address,
                                         "code": _code(mailoutbox[-1])}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def test_an_unverified_email_opens_nothing_and_its_owner_takes_the_account_back(api, signing_key, mailoutbox):
    from accounts.security import mfa

    r = api.post("/v1/auth/register", {"username": "atk", "email": "victim@example.com", "password": ATTACKER_PW},
                 format="json")
    assert r.status_code == 201
    account = User.objects.get(username="atk")
    assert account.email_verified_at is None
    # the unproven address is no sign-in identifier...
    r = api.post("/v1/auth/login", {"username": "victim@example.com", "password": ATTACKER_PW}, format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    # ...but the attacker's own username is, and they set up a session and a second factor
    attacker = login(api, "atk", ATTACKER_PW)
    mfa.totp_setup(user=account)
    TotpDevice.objects.filter(user=account).update(confirmed=True)

    # weeks later the owner of the mailbox signs in with an emailed code
    mailoutbox.clear()
    victim = _otp_login(api, mailoutbox, "victim@example.com")
    assert victim["user"]["id"] == account.pk  # no challenge: the claimant's factor is gone too
    account.refresh_from_db()
    assert account.email_verified_at is not None and not account.has_usable_password()
    assert not TotpDevice.objects.filter(user=account).exists()
    # the claimant's password, session and tokens are worthless now
    r = api.post("/v1/auth/login", {"username": "atk", "password": ATTACKER_PW}, format="json")
    assert r.status_code == 401
    assert api.post("/v1/auth/refresh", {"refresh_token": attacker["refresh_token"]},
                    format="json").status_code == 401
    assert api.get("/v1/sessions", **bearer(attacker["access_token"])).status_code == 401
    sessions = api.get("/v1/sessions", **bearer(victim["access_token"])).json()["results"]
    assert [s["session_id"] for s in sessions] == [victim["session_id"]]
    event = AuditEvent.objects.get(action="user.unverified_claim_voided", subject_user_id=account.pk)
    assert event.metadata == {"field": "email", "proof": "otp", "voided": ["sessions", "password", "mfa"]}


def test_a_verified_address_is_not_voided_by_a_code_sign_in(api, signing_key, mailoutbox, user):
    """The rule is about unproven claims only: the owner's own code sign-in keeps the account whole."""
    pair = login(api, user.username)
    mailoutbox.clear()
    _otp_login(api, mailoutbox, user.email)
    user.refresh_from_db()
    assert user.has_usable_password()
    assert api.get("/v1/sessions", **bearer(pair["access_token"])).status_code == 200
    assert not AuditEvent.objects.filter(action="user.unverified_claim_voided").exists()


def test_the_sign_up_code_confirms_the_address_signed_in_or_not(api, signing_key, mailoutbox):
    r = api.post("/v1/auth/register", {"username": "carol", "email": "carol@example.com",
                                       "password": "carol's long passphrase"}, format="json")
    assert r.status_code == 201
    assert mailoutbox[-1].subject == "Confirm your email for Fly"
    assert "until this code comes back, the address opens nothing" in mailoutbox[-1].body
    first = _code(mailoutbox[-1])
    pair = login(api, "carol", "carol's long passphrase")
    me = api.get("/v1/users/me", **bearer(pair["access_token"])).json()
    assert me["email_verified"] is False and me["phone_verified"] is False
    # a wrong code, or a code for someone else's address, is the same otp_invalid
    r = api.post("/v1/users/me/email/verify", {"email": "carol@example.com", "code": "000000" if first != "000000"
                                               else "111111"}, format="json", **bearer(pair["access_token"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_invalid"
    r = api.post("/v1/users/me/email/verify", {"email": "nobody@example.com", "code": first}, format="json")
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_invalid"
    r = api.post("/v1/users/me/email/verify", {"email": "carol@example.com", "code": first}, format="json",
                 **bearer(pair["access_token"]))
    assert r.status_code == 200 and r.json()["email_verified"] is True
    assert AuditEvent.objects.filter(action="user.contact_verified", metadata__field="email").count() == 1
    # the password set at sign-up survives: the one who registered proved the address
    assert login(api, "carol@example.com", "carol's long passphrase")["user"]["username"] == "carol"
    # a spent code does not confirm twice
    r = api.post("/v1/users/me/email/verify", {"email": "carol@example.com", "code": first}, format="json")
    assert r.status_code == 401


def test_require_verified_email_holds_sign_in_until_the_address_is_proven(api, signing_key, mailoutbox, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "REQUIRE_VERIFIED_EMAIL": True}
    r = api.post("/v1/auth/register", {"username": "dave", "email": "dave@example.com",
                                       "password": "dave's long passphrase"}, format="json")
    assert r.status_code == 201
    r = api.post("/v1/auth/login", {"username": "dave", "password": "dave's long passphrase"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "email_unverified"
    failed = AuditEvent.objects.get(action="login.failed", metadata__reason="email_unverified")
    assert failed.result == "denied" and failed.metadata["channel"] == "api"
    # a wrong password still answers as a wrong password (no oracle for the setting)
    r = api.post("/v1/auth/login", {"username": "dave", "password": "wrong passphrase!"}, format="json")
    assert r.status_code == 401
    r = api.post("/v1/users/me/email/verify", {"email": "dave@example.com", "code": _code(mailoutbox[-1])},
                 format="json")
    assert r.status_code == 200
    assert login(api, "dave", "dave's long passphrase")["user"]["username"] == "dave"


def test_registration_is_limited_per_client_ip(api, signing_key, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "REGISTER_IP_PER_HOUR": 3}
    for i in range(3):
        r = api.post("/v1/auth/register", {"username": f"bulk{i}", "password": "a long enough passphrase"},
                     format="json", REMOTE_ADDR="203.0.113.9")
        assert r.status_code == 201
    r = api.post("/v1/auth/register", {"username": "bulk3", "password": "a long enough passphrase"},
                 format="json", REMOTE_ADDR="203.0.113.9")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1 and not User.objects.filter(username="bulk3").exists()
    r = api.post("/v1/auth/register", {"username": "bulk4", "password": "a long enough passphrase"},
                 format="json", REMOTE_ADDR="203.0.113.10")
    assert r.status_code == 201  # another address is not held back
