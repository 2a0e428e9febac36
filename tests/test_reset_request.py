"""A password-reset request answers before it looks anything up: the lookup, the link, the
audit event and the mail happen after the response (a task after commit with a broker; with
eager Celery, once the WSGI server has written the response and closed it). What the request
itself does is the same whether or not the account exists. The timing proof is
bench/reset_timing.py (make bench-reset), not a timed assertion here."""
from __future__ import annotations

import json
import re
from io import BytesIO

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from accounts.models import PasswordResetToken
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/v1/auth/password/reset/request"


def _serve(identifier: object, **headers: str):
    """Drive Django's WSGI handler as a server does: call it, write the whole body, and only
    then close the response. Returns (status, body, response) with the response not yet closed.
    Like Django's test client, the connection cleanup on request boundaries is held back (the
    test's database connection must survive)."""
    data = json.dumps({"identifier": identifier}).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": PATH, "SERVER_NAME": "testserver", "SERVER_PORT": "80",
               "HTTP_HOST": "testserver", "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(data)), "wsgi.input": BytesIO(data), "wsgi.url_scheme": "http",
               "wsgi.errors": BytesIO(), "SERVER_PROTOCOL": "HTTP/1.1", **headers}
    status: list[str] = []
    request_started.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(environ, lambda s, h, exc_info=None: status.append(s))
        body = b"".join(response)
    finally:
        request_started.connect(close_old_connections)
    return status[0], body, response


def _close(response) -> None:
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _shape(sql: str) -> str:
    """A statement without its values: what was done, not to whom."""
    return re.sub(r"'[^']*'|\b\d+\b", "?", sql)


def test_reset_answers_before_the_lookup_the_link_and_the_mail(signing_key, mailoutbox):
    user = UserFactory()
    status, body, response = _serve(user.email, HTTP_USER_AGENT="probe/1.0")
    assert status.startswith("202") and json.loads(body) == {"status": "accepted"}
    # the whole answer is out, and nothing was looked up, issued, recorded or sent yet
    assert not PasswordResetToken.objects.exists() and not mailoutbox
    assert not AuditEvent.objects.filter(action="password.reset_requested").exists()
    _close(response)
    row = PasswordResetToken.objects.get(user=user)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [user.email]
    token = re.search(r"token=(\S+)", mailoutbox[0].body).group(1)
    assert row.token_hash != token and not PasswordResetToken.objects.filter(token_hash=token).exists()
    # the client's context came along: the event names who asked, in the request's name
    event = AuditEvent.objects.get(action="password.reset_requested")
    assert event.subject_user_id == user.pk and event.result == "success"
    assert event.ip == "127.0.0.1" and event.user_agent == "probe/1.0"
    assert event.request_id == response["X-Request-Id"]


def test_known_and_unknown_accounts_do_the_same_work_in_the_request(signing_key, mailoutbox):
    user = UserFactory()
    work = {}
    for name, identifier in (("known", user.email), ("unknown", "nobody@example.com"), ("username", user.username),
                             ("garbage", 12)):
        with CaptureQueriesContext(connection) as during:
            status, body, response = _serve(identifier)
        work[name] = (status, body, [_shape(q["sql"]) for q in during.captured_queries])
        _close(response)
    assert work["known"] == work["unknown"] == work["username"] == work["garbage"]
    assert len(mailoutbox) == 2  # the email and the username found the account, afterwards
    failures = AuditEvent.objects.filter(action="password.reset_requested", result="failure")
    assert failures.count() == 2 and all(e.subject_user_id is None for e in failures)


def test_with_a_broker_the_request_only_queues_a_sealed_task(signing_key, monkeypatch, mailoutbox):
    """No eager Celery: the request publishes one task after commit and does nothing else;
    the address crosses the broker sealed, never in the clear."""
    from types import SimpleNamespace

    from accounts import tasks

    user = UserFactory()
    queued: list[tuple] = []
    broker = SimpleNamespace(conf=SimpleNamespace(task_always_eager=False))
    monkeypatch.setattr(tasks, "reset_request_process",
                        SimpleNamespace(app=broker, name="reset", delay=lambda *args: queued.append(args)))
    status, _, response = _serve(user.email)
    assert status.startswith("202") and len(queued) == 1
    (sealed,) = queued[0]
    assert user.email not in sealed
    _close(response)
    assert len(queued) == 1 and not mailoutbox and not PasswordResetToken.objects.exists()
    # what a worker then does with it
    monkeypatch.undo()
    tasks.reset_request_process(sealed)
    assert len(mailoutbox) == 1 and PasswordResetToken.objects.filter(user=user).exists()


def test_a_failure_after_the_response_is_logged_not_raised(signing_key, monkeypatch, caplog, mailoutbox):
    from accounts.services import passwords

    user = UserFactory()

    def broken(**_):
        raise RuntimeError("mail relay down")

    monkeypatch.setattr(passwords, "password_reset_issue", broken)
    status, _, response = _serve(user.email)
    assert status.startswith("202")
    _close(response)  # does not raise: the client already has its answer
    assert "task after the response failed" in caplog.text
    assert user.email not in caplog.text


def test_outside_a_request_the_service_still_sends(signing_key, mailoutbox):
    """A command or a shell calling the service has no response to wait for."""
    from accounts.services import password_reset_request

    user = UserFactory()
    password_reset_request(identifier=user.email)
    assert len(mailoutbox) == 1 and PasswordResetToken.objects.filter(user=user).exists()


def test_through_the_test_client_too(api, signing_key, mailoutbox):
    """Django's test client closes the response like a server: the flows built on it see the mail."""
    user = UserFactory()
    assert api.post(PATH, {"identifier": user.email}, format="json").status_code == 202
    assert len(mailoutbox) == 1
