"""custos.sql: the once-compiled reads and inserts of the sign-in path give what the ORM gives."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import selectors
from accounts.models import Tenant, TotpDevice, User
from audit.models import AuditEvent
from audit.services import Actor, event_record
from custos.sql import insert
from sessions_app.models import RefreshToken, Session
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_identifier_read_matches_the_orm_field_by_field():
    tenant = Tenant.objects.create(name="acme")
    user = UserFactory(username="plain", email="Plain.User@example.com", tenant=tenant)
    TotpDevice.objects.create(user=user, name="phone", confirmed=True, key_sealed="x")
    found = selectors.user_by_identifier("username", "plain")
    orm = User.objects.get(pk=user.pk)
    for field in User._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(orm, field.attname), field.attname
        assert type(getattr(found, field.attname)) is type(getattr(orm, field.attname)), field.attname
    assert found.has_mfa is True and found.tenant_status == "active"
    assert found._state.adding is False and found._state.db == "default"
    assert found.check_password("x") is False  # a usable model instance, not a row

    Tenant.objects.filter(pk=tenant.pk).update(status="disabled")
    TotpDevice.objects.filter(user=user).update(confirmed=False)
    again = selectors.user_by_identifier("username", "plain")
    assert again.has_mfa is False and again.tenant_status == "disabled"


def test_token_subject_read_matches_the_orm_and_only_for_active_accounts():
    tenant = Tenant.objects.create(name="subject")
    user = UserFactory(username="subject", tenant=tenant, user_type="partner")
    User.objects.filter(pk=user.pk).update(token_version=7)
    found = selectors.user_token_subject(user_id=user.pk)
    orm = User.objects.get(pk=user.pk)
    for name in ("id", "username", "tenant_id", "user_type", "status", "token_version"):
        assert getattr(found, name) == getattr(orm, name) and type(getattr(found, name)) is type(getattr(orm, name))
    assert selectors.user_public(found) == selectors.user_public(orm)
    assert found.get_deferred_fields() >= {"password", "email", "is_superuser"}  # a partial row is not saved whole
    for status in ("disabled", "locked", "deleted", "merged"):
        User.objects.filter(pk=user.pk).update(status=status)
        assert selectors.user_token_subject(user_id=user.pk) is None, status
    assert selectors.user_token_subject(user_id=user.pk + 1000) is None


def test_email_is_matched_without_case_and_wildcards_match_nothing():
    user = UserFactory(username="wild", email="axb@example.com")
    assert selectors.user_by_identifier("email", "AXB@example.com").pk == user.pk
    # the iexact lookup is LIKE underneath: its wildcards must be escaped, not obeyed
    assert selectors.user_by_identifier("email", "a_b@example.com") is None
    assert selectors.user_by_identifier("email", "%@example.com") is None
    assert selectors.user_by_identifier("username", "nobody") is None


def test_insert_fills_defaults_and_reads_back_like_create():
    user = UserFactory()
    now = timezone.now()
    session = insert(Session(user=user, tenant_id=None, amr=["pwd", "mfa"], auth_time=now, ip="203.0.113.9"))
    stored = Session.objects.get(pk=session.pk)
    assert stored.session_id == session.session_id and len(stored.session_id) == 36  # the model's default
    assert stored.amr == ["pwd", "mfa"] and stored.auth_time == now and stored.revoked is False
    assert stored.created_at is not None and abs(stored.created_at - now) < timedelta(seconds=5)  # auto_now_add
    token = insert(RefreshToken(user=user, session=session, token_hash="ab" * 32, expires_at=now))
    assert RefreshToken.objects.get(pk=token.pk).session_id == session.pk

    event = event_record(action="test.plain", actor=Actor.user(user.pk), subject_user_id=user.pk,
                         metadata={"nested": {"password": "hunter2", "n": 1}, "list": [1, "two"]})
    assert event.pk is None  # written by insert_later: no id to read back, anywhere
    row = AuditEvent.objects.get(event_id=event.event_id)
    assert isinstance(row.event_id, uuid.UUID) and row.event_id == event.event_id
    assert row.metadata == {"nested": {"password": "[redacted]", "n": 1}, "list": [1, "two"]}


def test_insert_goes_through_save_for_models_with_save_signals():
    from django.db.models.signals import post_save

    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=User, weak=False, dispatch_uid="test-plain-sql")
    try:
        user = insert(User(username="signalled"))
    finally:
        post_save.disconnect(dispatch_uid="test-plain-sql", sender=User)
    assert User.objects.filter(pk=user.pk, username="signalled").exists()
    assert seen == [(user.pk, True)]


@pytest.mark.parametrize("body", [
    {"username": "a", "password": "x\u0000y"},
    {"username": "a", "password": "\ud800"},
    {"username": "", "password": "x"},
    {"username": "a" * 255, "password": "x"},
])
def test_lean_login_hands_odd_bodies_to_the_serializer(client, signing_key, body):
    r = client.post("/v1/auth/login", data=body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "validation_error" and r.json()["error"]["fields"]
