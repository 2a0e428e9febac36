"""The Django admin in a real browser (Debian chromium driven by playwright)."""
from __future__ import annotations

import os
import shutil

import pytest

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
CHROMIUM = "/usr/bin/chromium"
# playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
# still synchronous, so Django's async guard must stand aside for this module.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def page(tmp_path):
    assert shutil.which(CHROMIUM), "Debian's chromium is needed for the admin tests (.ci/run installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_staff_freezes_a_user_from_the_admin(live_server, page, signing_key, tmp_path):
    admin = UserFactory(username="root", user_type="staff", is_superuser=True)
    victim = UserFactory(username="mallory")
    bystander = UserFactory(username="bob")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/accounts/user/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/accounts/user/")
    page.fill("#searchbar", "mall")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "mallory" in rows.first.inner_text()
    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "action_freeze")
    page.click("button[name=index]")
    page.wait_for_load_state()
    assert "Freeze: 1 account(s)." in page.locator("ul.messagelist").inner_text()
    page.screenshot(path=str(tmp_path / "admin-freeze.png"))
    victim.refresh_from_db()
    bystander.refresh_from_db()
    assert victim.status == User.Status.DISABLED and bystander.status == User.Status.ACTIVE
    ev = AuditEvent.objects.get(action="user.frozen", subject_user_id=victim.pk)
    assert ev.actor_type == "user" and ev.actor_id == str(admin.pk)
    # secrets are shown read-only: the change form has no password input
    page.goto(f"{live_server.url}/admin/accounts/user/{victim.pk}/change/")
    assert page.locator("input[name=password]").count() == 0
    assert page.locator("input[name=token_version]").count() == 0


def test_customers_cannot_sign_in_to_the_admin(live_server, page, signing_key):
    UserFactory(username="carol")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "/admin/login/" in page.url
    assert page.locator(".errornote").count() == 1


def test_audit_log_is_read_only_in_the_admin(live_server, page, signing_key):
    UserFactory(username="root", user_type="staff", is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/audit/auditevent/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/audit/auditevent/")
    assert page.locator("#result_list").count() == 1
    assert page.locator(".object-tools a.addlink").count() == 0
    assert page.locator("select[name=action] option[value=delete_selected]").count() == 0
