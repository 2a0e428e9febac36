"""The console's users in a real browser (Debian chromium driven by playwright): find by email domain,
revoke one session, freeze behind its confirmation page, and a tenant administrator who cannot see
another tenant's user. With CUSTOS_CONSOLE_SCREENSHOTS=1 the pages are saved to docs/console/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import LoginEvent, User
from audit.models import AuditEvent
from audit.services import Actor
from tests.browser import chromium
from tests.conftest import grant
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "console"
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # playwright's loop on this thread; the ORM stays sync


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1400, "height": 900})


def _shot(page, name: str, tmp_path) -> None:
    target = DOCS if os.environ.get("CUSTOS_CONSOLE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)


def _sign_in(page, url: str, username: str, next_path: str) -> None:
    page.goto(f"{url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_load_state()
    assert "/admin/login/" not in page.url


def test_find_users_by_email_domain(live_server, page, signing_key, tmp_path):
    UserFactory(username="root", user_type="staff", is_superuser=True, email="root@corp.example")
    tenant = TenantFactory(name="acme")
    wanted = [UserFactory(username=f"ada{i}", email=f"ada{i}@example.org", tenant=tenant if i % 2 else None)
              for i in range(3)]
    UserFactory(username="eve", email="eve@example.org.evil.test")
    UserFactory(username="sam", email="sam@example.com")
    _sign_in(page, live_server.url, "root", "/admin/accounts/user/")
    page.fill("#searchbar", "@example.org")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    rows = page.locator("#result_list tbody tr")
    names = sorted(rows.nth(i).locator("th, td").nth(2).inner_text() for i in range(rows.count()))
    assert names == sorted(u.username for u in wanted)
    assert page.locator("#users-paginator").count() == 1 and "results" not in page.locator("#toolbar").inner_text()
    _shot(page, "users-list.png", tmp_path)


def test_revoke_one_session(live_server, page, signing_key, tmp_path):
    from authz.services import tenant_roles_seed
    from federation.models import UserOAuth
    from sessions_app.models import Session
    from sessions_app.services import session_start

    UserFactory(username="root", user_type="staff", is_superuser=True)
    tenant = TenantFactory(name="acme")
    tenant_roles_seed(tenant_id=tenant.pk)
    target = UserFactory(username="dora", email="dora@example.org", phone="+8613800000001", tenant=tenant)
    for ua, ip in (("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile Safari", "203.0.113.7"),
                   ("Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0", "198.51.100.23")):
        session_start(user=target, amr=["pwd"], actor=Actor.user(target.pk))
        Session.objects.filter(user_id=target.pk).order_by("-id").filter(ip__isnull=True).update(
            user_agent=ua, ip=ip, device_id=f"device-{ip[-2:]}")
    UserOAuth.objects.create(user=target, provider="google", issuer="https://accounts.google.com",
                             provider_uid="108234567890")
    grant(target, "auditor", tenant.pk)
    LoginEvent.objects.create(user=target, occurred_at=timezone.now(), ip="203.0.113.7", country="CN", method="pwd",
                              result="success", risk_score=0, reasons=[], user_agent="iPhone")
    LoginEvent.objects.create(user=target, occurred_at=timezone.now(), ip="192.0.2.50", country="BR", method="pwd",
                              result="challenged", risk_score=65, reasons=["new_country", "new_device"],
                              user_agent="curl/8.5")
    _sign_in(page, live_server.url, "root", f"/admin/accounts/user/{target.pk}/change/")
    rows = page.locator("#sessions-table tbody tr")
    assert rows.count() == 2
    assert page.locator("#panel-roles").inner_text().count("auditor") >= 1
    assert "new_country" in page.locator("#panel-logins").inner_text()
    _shot(page, "user-page.png", tmp_path)
    ended_ip = rows.first.locator("td").nth(1).inner_text()
    rows.first.locator("input[value=Revoke]").click()
    page.wait_for_load_state()
    assert "The session was ended" in page.locator("ul.messagelist").inner_text()
    assert page.locator("#sessions-table tbody tr").count() == 1
    live = Session.objects.filter(user_id=target.pk, revoked=False)
    assert live.count() == 1 and live.get().ip != ended_ip
    event = AuditEvent.objects.get(action="session.revoked", subject_user_id=target.pk)
    assert event.actor_id == str(User.objects.get(username="root").pk)


def test_freeze_with_confirmation(live_server, page, signing_key, tmp_path):
    admin = UserFactory(username="root", user_type="staff", is_superuser=True)
    victim = UserFactory(username="mallory")
    bystander = UserFactory(username="mallow")
    _sign_in(page, live_server.url, "root", "/admin/accounts/user/")
    page.fill("#searchbar", "mall")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    row = page.locator("#result_list tbody tr", has_text="mallory")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "action_freeze")
    page.click("button[name=index]")
    page.wait_for_load_state()
    assert "cannot sign in" in page.locator("#confirm-what").inner_text()
    assert "mallory" in page.locator("#confirm-accounts").inner_text()
    assert "mallow" not in page.locator("#confirm-accounts").inner_text()
    assert User.objects.get(pk=victim.pk).status == "active"  # the page alone changes nothing
    _shot(page, "freeze-confirm.png", tmp_path)
    page.click("#confirm-yes")
    page.wait_for_load_state()
    assert "Freeze: 1 account(s)." in page.locator("ul.messagelist").inner_text()
    assert User.objects.get(pk=victim.pk).status == "disabled"
    assert User.objects.get(pk=bystander.pk).status == "active"
    ev = AuditEvent.objects.get(action="user.frozen", subject_user_id=victim.pk)
    assert ev.actor_id == str(admin.pk)


def test_tenant_admin_cannot_see_another_tenants_user(live_server, page, signing_key):
    from authz.services import platform_roles_seed, tenant_roles_seed

    platform_roles_seed()
    north, south = TenantFactory(name="north"), TenantFactory(name="south")
    for t in (north, south):
        tenant_roles_seed(tenant_id=t.pk)
    lead = UserFactory(username="lead", user_type="staff", tenant=north)
    grant(lead, "tenant_admin", north.pk)
    mine = UserFactory(username="nora", email="nora@example.org", tenant=north)
    theirs = UserFactory(username="sven", email="sven@example.org", tenant=south)
    _sign_in(page, live_server.url, "lead", "/admin/accounts/user/")
    page.fill("#searchbar", "@example.org")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    listed = page.locator("#result_list").inner_text()
    assert "nora" in listed and "sven" not in listed
    assert "north" in page.locator("#tenant-own").inner_text()
    response = page.goto(f"{live_server.url}/admin/accounts/user/{theirs.pk}/change/")
    assert response.status == 404 and "sven" not in page.content()
    response = page.goto(f"{live_server.url}/admin/accounts/user/{mine.pk}/change/")
    assert response.status == 200 and page.locator("#btn-freeze").count() == 1
