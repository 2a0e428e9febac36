"""Recording audit events (audit/services.py): behaviour the mutation run
(scripts/mutation.py) found no test for."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import Actor, _scrub, event_record
from custos import context

pytestmark = pytest.mark.django_db(transaction=True)

FORBIDDEN = ["password", "new_password", "current_password", "token", "access_token", "refresh_token", "code",
             "secret", "otp", "mfa_token", "reauth_token"]


@pytest.fixture
def request_context():
    token = context.set_current(context.RequestContext(request_id="req-42", ip="192.0.2.7", user_agent="agent/2",
                                                       device_id="dev"))
    yield
    context.reset(token)


def test_an_event_carries_its_fields_and_the_requests_context(request_context):
    with transaction.atomic():
        event = event_record(action="user.updated", actor=Actor.user(5), subject_user_id=6, tenant_id=7,
                             metadata={"field": "email"})
    row = AuditEvent.objects.get(event_id=event.event_id)
    assert (row.action, row.result, row.actor_type, row.actor_id) == ("user.updated", "success", "user", "5")
    assert (row.subject_user_id, row.tenant_id) == (6, 7)
    assert (row.ip, row.user_agent, row.request_id) == ("192.0.2.7", "agent/2", "req-42")
    assert row.metadata == {"field": "email"} and row.occurred_at is not None


def test_an_event_without_metadata_or_context(db):
    event = event_record(action="key.created", actor=Actor.system("rotate"), result="failure")
    row = AuditEvent.objects.get(event_id=event.event_id)
    assert (row.result, row.actor_type, row.actor_id, row.metadata) == ("failure", "system", "rotate", {})
    assert (row.ip, row.user_agent, row.request_id, row.subject_user_id, row.tenant_id) == (None, "", "", None, None)


def test_an_event_rolls_back_with_its_change(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        event = event_record(action="user.updated", actor=Actor.anonymous())
        raise RuntimeError("the change failed")
    assert not AuditEvent.objects.filter(event_id=event.event_id).exists()


@pytest.mark.parametrize("key", FORBIDDEN)
def test_every_secret_key_is_redacted_whatever_its_case_or_depth(key):
    assert _scrub({key: "s3cret", "kept": 1}) == {key: "[redacted]", "kept": 1}
    assert _scrub({key.upper(): "s3cret"}) == {key.upper(): "[redacted]"}
    nested = {"outer": [{"inner": {key: "s3cret"}}, ("x", {key: "y"})], "n": None}
    assert _scrub(nested) == {"outer": [{"inner": {key: "[redacted]"}}, ["x", {key: "[redacted]"}]], "n": None}


def test_metadata_is_scrubbed_before_it_is_stored(db):
    event = event_record(action="user.updated", actor=Actor.user(1), metadata={"Password": "pw", "ok": ["a"]})
    assert AuditEvent.objects.get(event_id=event.event_id).metadata == {"Password": "[redacted]", "ok": ["a"]}


def test_actors():
    assert (Actor.user(5).type, Actor.user(5).id) == ("user", "5")
    assert (Actor.service("clotho").type, Actor.service("clotho").id) == ("service", "clotho")
    assert (Actor.system().type, Actor.system().id) == ("system", "")
    assert Actor.system("beat").id == "beat"
    assert (Actor.anonymous().type, Actor.anonymous().id) == ("anonymous", "")
    assert Actor.of(SimpleNamespace(is_service=True, name="clotho", id=None)) == Actor.service("clotho")
    assert Actor.of(SimpleNamespace(is_service=False, name="x", id=9)) == Actor.user(9)
    assert Actor.of(SimpleNamespace(id=9)) == Actor.user(9)


class _Clock:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_an_export_is_nudged_after_commit_at_most_once_a_second(settings, monkeypatch):
    import time

    from audit import services, tasks

    clock = _Clock()
    sent = []
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(services, "_last_nudge", 0.0)
    monkeypatch.setattr(tasks.export_all, "apply_async", lambda **kw: sent.append(kw))

    event_record(action="a.b", actor=Actor.system())
    assert sent == []  # no sink configured: nothing to export
    settings.CUSTOS_AUDIT = {**getattr(settings, "CUSTOS_AUDIT", {}), "SINKS": ["webhook"]}
    with transaction.atomic():
        event_record(action="a.b", actor=Actor.system())
        assert sent == []  # not before the commit
    assert len(sent) == 1 and 0 < sent[0]["countdown"] <= 1  # soon: within the second the nudges are apart
    assert sent[0]["ignore_result"] is True  # a nudge's result is nobody's business: no backend row each time
    clock.now = 1000.5
    event_record(action="a.b", actor=Actor.system())
    assert len(sent) == 1  # within the second: one nudge is enough
    clock.now = 1001.0
    event_record(action="a.b", actor=Actor.system())
    assert len(sent) == 2
