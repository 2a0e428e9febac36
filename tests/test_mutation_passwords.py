"""Password change, reset and invitations (accounts/services/passwords.py) at the edges the
mutation run (scripts/mutation.py) found untested."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from accounts.errors import ResetTokenInvalid
from accounts.models import PasswordResetToken, User
from accounts.services import passwords
from audit.models import AuditEvent
from audit.services import Actor
from custos import context
from custos.crypto import sha256_hex
from custos.exceptions import NotFound, RateLimited, ValidationFailed
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
NEW = "a much longer brand new passphrase 42"
WEAK, WRONG = "short", "wrong"


@pytest.fixture
def links(monkeypatch):
    from accounts import tasks

    sent = []
    monkeypatch.setattr(tasks.send_password_link, "delay", lambda *args: sent.append(args))
    return sent


def _link(user, token="tok-" + "x" * 40, purpose="reset", expires_in=600, **fields) -> str:
    now = timezone.now()
    PasswordResetToken.objects.create(user=user, token_hash=sha256_hex(token), purpose=purpose, created_at=now,
                                      expires_at=now + timedelta(seconds=expires_in), **fields)
    return token


# ---- reset: issue --------------------------------------------------------------------------
@pytest.mark.parametrize("status", [User.Status.ACTIVE, User.Status.LOCKED, User.Status.DISABLED])
def test_an_eligible_account_gets_one_live_link(links, status, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "RESET_TOKEN_TTL": 1800}
    user = UserFactory(status=status)
    assert passwords.password_reset_issue(identifier=user.email) is True
    assert passwords.password_reset_issue(identifier=user.email) is True
    rows = list(PasswordResetToken.objects.filter(user=user).order_by("id"))
    assert len(rows) == 2 and rows[0].voided_at is not None and rows[1].voided_at is None
    assert rows[1].purpose == "reset" and rows[1].expires_at - rows[1].created_at == timedelta(seconds=1800)
    assert [row_id for row_id, _ in links] == [rows[0].pk, rows[1].pk]  # mailed after commit, sealed
    assert all(sealed != sha256_hex("") and len(sealed) > 40 for _, sealed in links)
    event = AuditEvent.objects.filter(action="password.reset_requested").last()
    assert (event.result, event.subject_user_id, event.actor_type) == ("success", user.pk, "anonymous")


@pytest.mark.parametrize("case", ["deleted", "merged", "no_email", "unknown", "too_long", "empty"])
def test_no_link_for_anyone_else(links, case):
    user = UserFactory(status=User.Status.DELETED if case == "deleted" else (
        User.Status.MERGED if case == "merged" else User.Status.ACTIVE))
    if case == "no_email":
        User.objects.filter(pk=user.pk).update(email=None)
    identifier = {"unknown": "nobody@example.com", "too_long": "a" * 250 + "@example.com",
                  "empty": "", "no_email": user.username}.get(case, user.email)
    assert passwords.password_reset_issue(identifier=identifier) is False
    assert not PasswordResetToken.objects.exists() and links == []
    event = AuditEvent.objects.get(action="password.reset_requested")
    assert (event.result, event.subject_user_id, event.metadata) == ("failure", None,
                                                                     {"reason": "no_eligible_account"})


def test_an_invitation_lives_its_own_ttl(links, user, settings):
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "INVITE_TOKEN_TTL": 3600}
    row = passwords.password_invite(user=user)
    assert row.purpose == "invite" and row.expires_at - row.created_at == timedelta(seconds=3600)
    assert links and links[0][0] == row.pk


def test_reset_requests_are_limited_per_ip_and_per_identifier(settings, monkeypatch):
    from accounts import tasks

    monkeypatch.setattr(tasks, "after_response", lambda *args: None)
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "RESET_IP_PER_HOUR": 4, "RESET_DEST_PER_HOUR": 2}
    token = context.set_current(context.RequestContext(ip="192.0.2.50"))
    try:
        passwords.password_reset_request(identifier="Someone@Example.com")
        passwords.password_reset_request(identifier="someone@example.COM")  # the same address
        with pytest.raises(RateLimited):
            passwords.password_reset_request(identifier="SOMEONE@example.com")
        passwords.password_reset_request(identifier="other@example.com")  # the address's own count
        with pytest.raises(RateLimited):
            passwords.password_reset_request(identifier="third@example.com")  # the IP's fifth
    finally:
        context.reset(token)
    passwords.password_reset_request(identifier="third@example.com")  # no IP: only the address counts


# ---- reset: confirm ------------------------------------------------------------------------
def test_a_reset_sets_the_password_spends_the_link_and_ends_the_sessions(user):
    token = _link(user)
    passwords.password_reset_confirm(token=token, new_password=NEW)
    user.refresh_from_db()
    assert check_password(NEW, user.password) and user.token_version == 1
    assert PasswordResetToken.objects.get(user=user).used_at is not None
    event = AuditEvent.objects.get(action="password.reset")
    assert (event.subject_user_id, event.actor_id, event.metadata) == (user.pk, str(user.pk), {"via": "reset"})
    with pytest.raises(ResetTokenInvalid):
        passwords.password_reset_confirm(token=token, new_password=NEW + "!")


@pytest.mark.parametrize("token", [None, "", "x" * 257, 5, "unknown"])
def test_a_malformed_or_unknown_reset_token(user, token):
    with pytest.raises(ResetTokenInvalid):
        passwords.password_reset_confirm(token=token, new_password=NEW)


def test_the_new_password_must_be_a_string(user):
    with pytest.raises(ValidationFailed):
        passwords.password_reset_confirm(token=_link(user), new_password=None)


@pytest.mark.parametrize("state", ["used", "voided", "expired", "deleted", "merged"])
def test_a_dead_link_is_refused(state):
    user = UserFactory(status={"deleted": User.Status.DELETED, "merged": User.Status.MERGED}.get(
        state, User.Status.ACTIVE))
    now = timezone.now()
    token = _link(user, expires_in=0 if state == "expired" else 600,
                  **({"used_at": now} if state == "used" else {"voided_at": now} if state == "voided" else {}))
    with pytest.raises(ResetTokenInvalid):
        passwords.password_reset_confirm(token=token, new_password=NEW)
    user.refresh_from_db()
    assert check_password(PASSWORD, user.password)


def test_a_refused_new_password_leaves_the_link_unspent(user):
    token = _link(user)
    with pytest.raises(ValidationFailed):
        passwords.password_reset_confirm(token=token, new_password=WEAK)
    assert PasswordResetToken.objects.get(user=user).used_at is None
    passwords.password_reset_confirm(token=token, new_password=NEW)


def test_a_reset_ends_a_lockout_by_failures_but_not_a_staff_lock():
    locked = UserFactory(status=User.Status.LOCKED, status_reason="too_many_failures")
    passwords.password_reset_confirm(token=_link(locked, token="t-" + "a" * 40), new_password=NEW)
    locked.refresh_from_db()
    assert (locked.status, locked.status_reason) == (User.Status.ACTIVE, "password_reset")
    event = AuditEvent.objects.get(action="user.unlocked")
    assert event.subject_user_id == locked.pk and event.metadata == {"before": "locked", "after": "active",
                                                                      "reason": "password_reset"}
    by_staff = UserFactory(status=User.Status.LOCKED, status_reason="staff")
    passwords.password_reset_confirm(token=_link(by_staff, token="t-" + "b" * 40), new_password=NEW)
    by_staff.refresh_from_db()
    assert by_staff.status == User.Status.LOCKED and AuditEvent.objects.filter(action="user.unlocked").count() == 1


def test_an_accepted_invitation_proves_the_address():
    user = UserFactory(email_verified_at=None)
    passwords.password_reset_confirm(token=_link(user, purpose="invite"), new_password=NEW)
    user.refresh_from_db()
    assert user.email_verified_at is not None
    assert AuditEvent.objects.get(action="password.reset").metadata == {"via": "invite"}


def test_a_reset_forgives_the_accounts_failed_sign_ins(user):
    from accounts.security import throttle

    guard = throttle.account_guard(user.pk, None)
    guard.begin()
    guard.failed()
    passwords.password_reset_confirm(token=_link(user), new_password=NEW)
    assert throttle.cache.get(guard.fail_key) is None


# ---- change --------------------------------------------------------------------------------
def test_a_change_needs_the_current_password_and_counts_wrong_ones(user):
    from accounts.security import throttle

    for expected in (1, 2):
        with pytest.raises(ValidationFailed) as caught:
            passwords.password_change(user_id=user.pk, current_password=WRONG, new_password=NEW,
                                      keep_session_id=None, actor=Actor.user(user.pk))
        assert caught.value.reasons == ["current_password_incorrect"]
        event = AuditEvent.objects.filter(action="reauth.failed").last()
        assert event.result == "failure" and event.metadata == {"method": "pwd", "during": "password_change",
                                                                "consecutive": expected}
    guard = throttle.account_guard(user.pk, None)
    assert throttle.cache.get(guard.fail_key) == 2
    with pytest.raises(ValidationFailed):  # the right password, a refused new one: not a guess
        passwords.password_change(user_id=user.pk, current_password=PASSWORD, new_password=WEAK,
                                  keep_session_id=None, actor=Actor.user(user.pk))
    assert throttle.cache.get(guard.fail_key) == 2
    assert AuditEvent.objects.filter(action="reauth.failed").count() == 2  # nor a failed re-authentication
    passwords.password_change(user_id=user.pk, current_password=PASSWORD, new_password=NEW, keep_session_id="s1",
                              actor=Actor.user(user.pk))
    user.refresh_from_db()
    assert check_password(NEW, user.password)
    assert throttle.cache.get(guard.fail_key) is None  # forgiven
    event = AuditEvent.objects.get(action="password.changed")
    assert (event.subject_user_id, event.actor_id) == (user.pk, str(user.pk))


def test_a_change_tells_the_sessions_which_one_to_keep(user):
    from accounts.signals import password_changed

    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    password_changed.connect(receiver)
    try:
        passwords.password_change(user_id=user.pk, current_password=PASSWORD, new_password=NEW,
                                  keep_session_id="keep-me", actor=Actor.user(user.pk))
    finally:
        password_changed.disconnect(receiver)
    assert [(k["user_id"], k["keep_session_id"]) for k in seen] == [(user.pk, "keep-me")]


def test_an_account_without_a_password_cannot_change_one():
    user = UserFactory()
    user.set_unusable_password()
    user.save()
    with pytest.raises(ValidationFailed) as caught:
        passwords.password_change(user_id=user.pk, current_password="", new_password=NEW, keep_session_id=None,
                                  actor=Actor.user(user.pk))
    assert caught.value.reasons == ["current_password_incorrect"]


def test_a_change_for_nobody(db):
    from accounts.security import throttle

    with pytest.raises(NotFound):
        passwords.password_change(user_id=999999, current_password=PASSWORD, new_password=NEW,
                                  keep_session_id=None, actor=Actor.system())
    assert not throttle.cache.get(throttle.account_guard(999999, None).fail_key)  # never judged: not counted
