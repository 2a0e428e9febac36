"""Guessing through the side doors (issue 14): re-authentication and password change spend
the sign-in's own per-account allowance; reset requests are limited per IP and per
identifier; a reset through a mailbox the account never proved voids the claimant's setup."""
from __future__ import annotations

import re

import pytest

from accounts.models import TotpDevice, User
from audit.models import AuditEvent
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_limits(settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "LOGIN_DELAY_AFTER": 3, "LOGIN_HARD_LOCK_AFTER": 1000}
    return settings


def test_reauth_is_limited_on_the_sign_in_counter(api, signing_key, fast_limits):
    user = UserFactory()
    tok = login(api, user.username)["access_token"]
    answers = [api.post("/v1/auth/reauth", {"password": f"wrong guess {i}"}, format="json",
                        **bearer(tok)).status_code for i in range(5)]
    assert answers == [401, 401, 401, 429, 429]  # a stolen access token is no password oracle
    # the account's sign-in is held by the same counter, whichever identifier is typed
    for name in (user.username, user.email):
        r = api.post("/v1/auth/login", {"username": name, "password": PASSWORD}, format="json")
        assert r.status_code == 429, name
    assert AuditEvent.objects.filter(action="reauth.failed", subject_user_id=user.pk).count() == 3


def test_password_change_is_limited_on_the_sign_in_counter(api, signing_key, fast_limits):
    user = UserFactory()
    tok = login(api, user.username)["access_token"]
    answers = []
    for i in range(5):
        r = api.post("/v1/auth/password/change", {"current_password": f"wrong guess {i}",
                                                  "new_password": "a brand new passphrase 2026"},
                     format="json", **bearer(tok))
        answers.append(r.status_code)
    assert answers == [400, 400, 400, 429, 429]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)  # nothing changed
    failed = AuditEvent.objects.filter(action="reauth.failed", subject_user_id=user.pk)
    assert [e.metadata["during"] for e in failed] == ["password_change"] * 3


def test_sign_in_failures_count_against_reauth_and_across_identifiers(api, signing_key, fast_limits):
    user = UserFactory()
    tok = login(api, user.username)["access_token"]
    for name in (user.username, user.email, user.username):  # three identifiers, one account
        assert api.post("/v1/auth/login", {"username": name, "password": "wrong!"},
                        format="json").status_code == 401
    r = api.post("/v1/auth/reauth", {"password": PASSWORD}, format="json", **bearer(tok))
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1


def test_a_password_change_is_told_and_counts_nothing_when_right(api, signing_key, fast_limits, mailoutbox):
    user = UserFactory()
    tok = login(api, user.username)["access_token"]
    r = api.post("/v1/auth/password/change", {"current_password": PASSWORD,
                                              "new_password": "a brand new passphrase 2026"},
                 format="json", **bearer(tok))
    assert r.status_code == 204
    assert [m.subject for m in mailoutbox if m.to == [user.email]] == ["Your Fly password was changed"]
    assert "a brand new passphrase 2026" not in mailoutbox[-1].body


def test_reset_requests_are_limited_per_ip_and_per_identifier(api, signing_key, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "RESET_DEST_PER_HOUR": 2, "RESET_IP_PER_HOUR": 4}
    user = UserFactory()

    def ask(identifier: str, ip: str) -> int:
        r = api.post("/v1/auth/password/reset/request", {"identifier": identifier}, format="json", REMOTE_ADDR=ip)
        assert r.status_code != 429 or int(r["Retry-After"]) >= 1
        return r.status_code

    # per identifier, known or not, whatever the address asking and however it is spelled
    assert [ask(user.email, "198.51.100.1"), ask(user.email.upper(), "198.51.100.2"),
            ask(user.email, "198.51.100.3")] == [202, 202, 429]
    assert [ask("nobody@example.com", "198.51.100.4"), ask("nobody@example.com", "198.51.100.5"),
            ask("nobody@example.com", "198.51.100.6")] == [202, 202, 429]
    # per client IP, across identifiers
    assert [ask(f"someone{i}@example.com", "203.0.113.5") for i in range(5)] == [202, 202, 202, 202, 429]


def test_a_reset_through_an_unproven_mailbox_voids_the_claimants_setup(api, signing_key, mailoutbox):
    from accounts.security import mfa

    account = UserFactory(username="atk", email="owner@example.com", email_verified_at=None)
    attacker = login(api, "atk")
    mfa.totp_setup(user=account)
    TotpDevice.objects.filter(user=account).update(confirmed=True)
    # the mailbox's owner asks for a reset by the account's username (the address itself is no identifier)
    mailoutbox.clear()
    assert api.post("/v1/auth/password/reset/request", {"identifier": "atk"}, format="json").status_code == 202
    token = re.search(r"token=(\S+)", mailoutbox[-1].body).group(1)
    assert api.post("/v1/auth/password/reset/confirm", {"token": token, "new_password": "the owner's passphrase 2026"},
                    format="json").status_code == 204
    account.refresh_from_db()
    assert account.email_verified_at is not None and not TotpDevice.objects.filter(user=account).exists()
    assert api.post("/v1/auth/refresh", {"refresh_token": attacker["refresh_token"]},
                    format="json").status_code == 401
    # the owner signs in with the new password and the now-proven address, with no claimant's factor
    pair = login(api, "owner@example.com", "the owner's passphrase 2026")
    assert pair["user"]["id"] == account.pk
    event = AuditEvent.objects.get(action="user.unverified_claim_voided", subject_user_id=account.pk)
    assert event.metadata["proof"] == "password_reset" and "mfa" in event.metadata["voided"]
    assert User.objects.get(pk=account.pk).check_password("the owner's passphrase 2026")


def test_a_tenant_admin_cannot_reset_a_staff_accounts_factor_or_read_its_sign_ins(api, signing_key):
    """A takeover path the review's staff rule left open: the second factor of a staff account
    living in a tenant, reset by that tenant's admin."""
    from accounts.security import mfa
    from accounts.services import tenant_create
    from audit.services import Actor
    from tests.conftest import grant

    tenant = tenant_create(name="acme", actor=Actor.system("test"))
    admin = UserFactory(tenant=tenant)
    grant(admin, "tenant_admin", tenant.pk)
    tok = login(api, admin.username)["access_token"]
    ops = UserFactory(tenant=tenant, user_type="staff")
    customer = UserFactory(tenant=tenant)
    for user in (ops, customer):
        mfa.totp_setup(user=user)
        TotpDevice.objects.filter(user=user).update(confirmed=True)
    r = api.post(f"/v1/admin/users/{ops.pk}/mfa/reset", **bearer(tok))
    assert r.status_code == 403 and TotpDevice.objects.filter(user=ops).exists()
    assert api.get(f"/v1/admin/users/{ops.pk}/logins", **bearer(tok)).status_code == 403
    # the tenant's own customers stay theirs to help
    assert api.post(f"/v1/admin/users/{customer.pk}/mfa/reset", **bearer(tok)).status_code == 204
    assert not TotpDevice.objects.filter(user=customer).exists()
    assert api.get(f"/v1/admin/users/{customer.pk}/logins", **bearer(tok)).status_code == 200
