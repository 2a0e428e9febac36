"""The console's own look and limits (issue 17): its 404 page, its idle timeout, its name."""
import time

import pytest
from django.test import Client

from audit.models import AuditEvent
from sessions_app import console
from tests.factories import UserFactory


@pytest.fixture
def staff_client(db):
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    client = Client()
    client.force_login(staff, backend="accounts.backends.CustosModelBackend")
    return client, staff


def test_an_unknown_console_page_is_the_console_s_404_and_the_api_s_stays_json(staff_client):
    client, _ = staff_client
    r = client.get("/admin/no/such/page/")
    assert r.status_code == 404 and r["Content-Type"].startswith("text/html")
    assert b"There is no such page in the console" in r.content and b"Custos console" in r.content
    api = Client().get("/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    # a visitor who is not signed in is sent to the sign-in page, not told what exists
    anon = Client().get("/admin/no/such/page/")
    assert anon.status_code == 302 and "/admin/login/" in anon["Location"]


def test_the_console_is_branded(staff_client):
    client, _ = staff_client
    page = client.get("/admin/").content.decode()
    assert "Custos console" in page and "Django administration" not in page


def test_an_idle_console_session_ends_and_is_audited(staff_client, settings):
    client, staff = staff_client
    assert client.get("/admin/").status_code == 200  # the first request starts the idle clock
    session = client.session
    seen = session[console.SEEN]
    assert abs(seen - time.time()) < 5
    session[console.SEEN] = seen - 1801  # the default is 30 minutes
    session.save()
    r = client.get("/admin/accounts/user/")
    assert r.status_code == 302 and r["Location"] == "/admin/login/?next=/admin/accounts/user/"
    assert client.get("/admin/").status_code == 302  # signed out, not just redirected once
    event = AuditEvent.objects.filter(action="logout", subject_user_id=staff.pk).get()
    assert event.metadata["channel"] == "console"


def test_a_console_session_in_use_stays(staff_client, settings):
    client, _ = staff_client
    client.get("/admin/")
    session = client.session
    session[console.SEEN] -= 1700  # idle for less than the limit
    session.save()
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.session[console.SEEN] >= time.time() - 5  # and the clock restarted


def test_the_idle_limit_is_a_setting(staff_client, settings):
    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "CONSOLE_IDLE_TIMEOUT": 60}
    client, _ = staff_client
    client.get("/admin/")
    session = client.session
    session[console.SEEN] -= 61
    session.save()
    assert client.get("/admin/").status_code == 302


def test_audit_rows_link_to_the_users_they_name(staff_client):
    from audit.services import Actor, event_record

    client, staff = staff_client
    subject = UserFactory()
    event_record(action="user.frozen", actor=Actor.user(staff.pk), subject_user_id=subject.pk)
    event_record(action="key.rotated", actor=Actor.system("rotate_keys"))
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert f'href="/admin/accounts/user/{subject.pk}/change/"' in page
    assert f'href="/admin/accounts/user/{staff.pk}/change/">user {staff.pk}</a>' in page
    assert "system rotate_keys" in page


def test_the_audit_list_never_counts_or_scans_for_its_filters(staff_client, settings):
    """At a million events: no COUNT(*) for paging or facets, no DISTINCT over actions, no date
    hierarchy; "previous / next" paging; the action and time filters still narrow the list."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from audit.models import AuditEvent
    from audit.services import Actor, event_record

    client, _ = staff_client
    for _ in range(3):
        event_record(action="user.frozen", actor=Actor.system("t"))
    event_record(action="logout", actor=Actor.system("t"))
    AuditEvent.objects.filter(action="logout").update(occurred_at=timezone.now() - timedelta(days=3))
    with CaptureQueriesContext(connection) as q:
        page = client.get("/admin/audit/auditevent/?p=1")
    sql = " ".join(x["sql"].upper() for x in q.captured_queries)
    assert page.status_code == 200 and "COUNT(" not in sql and "DISTINCT" not in sql
    assert b'id="audit-paginator"' in page.content
    only_logouts = client.get("/admin/audit/auditevent/?action=logout").content.decode()
    assert only_logouts.count('class="field-action">logout<') == 1 and "user.frozen</td>" not in only_logouts
    recent = client.get("/admin/audit/auditevent/?since=1d").content.decode()
    assert "user.frozen" in recent and ">logout<" not in recent
    settings.DEBUG = False
    paged = client.get("/admin/audit/auditevent/?p=2")
    assert paged.status_code in (200, 302)  # past the end: the changelist's own handling, never a 500
