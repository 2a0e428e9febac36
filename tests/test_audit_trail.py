"""What the walking skeleton writes to the audit trail, and what it never writes."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from audit.models import AuditEvent
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_security_events_are_recorded_without_secrets(api, signing_key, settings):
    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "REFRESH_GRACE": 0}
    from tests.conftest import grant

    staff = UserFactory(user_type="staff")
    grant(staff, "platform_admin")
    user = UserFactory()
    secrets_used = [PASSWORD, "wrong-password-123"]
    r = api.post("/v1/auth/login", {"username": user.username, "password": "wrong-password-123"}, format="json",
                 HTTP_USER_AGENT="agent/1.0", REMOTE_ADDR="10.1.2.3")
    assert r.status_code == 401
    pair = login(api, user.username, HTTP_USER_AGENT="agent/1.0")
    secrets_used += [pair["access_token"], pair["refresh_token"]]
    nxt = api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json").json()
    secrets_used += [nxt["access_token"], nxt["refresh_token"]]
    assert api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
                    format="json").status_code == 401  # reuse
    p2 = login(api, user.username)
    secrets_used += [p2["access_token"], p2["refresh_token"]]
    assert api.post("/v1/auth/logout", **bearer(p2["access_token"])).status_code == 204
    s = login(api, staff.username)
    secrets_used += [s["access_token"], s["refresh_token"]]
    api.post("/v1/auth/force-logout", {"user_id": user.pk}, format="json", **bearer(s["access_token"]))
    call_command("rotate_keys", "--activate-now", stdout=StringIO())

    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for expected in ("login.failed", "login.succeeded", "refresh.reused", "logout", "user.forced_logout",
                     "key.rotated"):
        assert expected in actions, expected
    failed = AuditEvent.objects.get(action="login.failed")
    assert failed.ip == "10.1.2.3" and failed.user_agent == "agent/1.0" and failed.result == "failure"
    assert failed.request_id
    ok = AuditEvent.objects.filter(action="login.succeeded", subject_user_id=user.pk).first()
    assert ok.user_agent == "agent/1.0" and ok.ip

    dump = json.dumps([model_to_dict(e) for e in AuditEvent.objects.all()], default=str)
    for secret in secrets_used:
        assert secret not in dump


def test_failed_change_leaves_no_event(api, signing_key):
    """An event commits with its change: a refused registration writes none."""
    before = AuditEvent.objects.count()
    r = api.post("/v1/auth/register", {"username": "x1", "password": "password"}, format="json")
    assert r.status_code == 400
    assert AuditEvent.objects.count() == before


def test_logs_carry_no_secrets(api, signing_key, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    user = UserFactory()
    pair = login(api, user.username)
    api.get("/v1/users/me", **bearer(pair["access_token"]))
    api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    text = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "request" in text  # the request log lines were captured
    for secret in (PASSWORD, pair["access_token"], pair["refresh_token"]):
        assert secret not in text


@pytest.mark.parametrize("action,start,event", [
    ("freeze", "active", "user.frozen"), ("activate", "disabled", "user.activated"), ("lock", "active", "user.locked"),
    ("unlock", "locked", "user.unlocked"), ("delete", "active", "user.deleted")])
def test_a_lifecycle_event_is_written_in_the_changes_transaction(action, start, event):
    """The event is part of the change's transaction (docs/audit.md), not an after-commit
    afterthought: it is visible inside that transaction, and it rolls back with the change."""
    from django.db import transaction

    from accounts.models import User
    from accounts.services import user_transition
    from audit.services import Actor

    user = UserFactory(status=start)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        user_transition(user_id=user.pk, action=action, actor=Actor.system("test"), reason="test")
        inside = list(AuditEvent.objects.filter(action=event, subject_user_id=user.pk).values_list("metadata",
                                                                                                   flat=True))
        assert inside == [{"before": start, "after": User.objects.get(pk=user.pk).status, "reason": "test"}]
        raise Abort  # a later step of the same transaction fails
    assert User.objects.get(pk=user.pk).status == start
    assert not AuditEvent.objects.filter(action=event, subject_user_id=user.pk).exists()  # gone with the change
    user_transition(user_id=user.pk, action=action, actor=Actor.system("test"), reason="test")
    assert AuditEvent.objects.filter(action=event, subject_user_id=user.pk).count() == 1
