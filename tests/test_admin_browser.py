"""The Django admin in a real browser (Debian chromium driven by playwright)."""
from __future__ import annotations

import os
import time

import pytest

from accounts.models import LoginEvent, User
from audit.models import AuditEvent
from tests.browser import chromium
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
# playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
# still synchronous, so Django's async guard must stand aside for this module.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def page(tmp_path):
    with chromium() as browser:
        yield browser.new_page()


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
    assert "mallory" in page.locator("#content").inner_text()  # the confirmation names who is frozen
    page.click("#confirm-yes")
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


# ---- the console's door: the one sign-in flow (sessions_app.signin, console channel) ------------
WRONG = "Please enter the correct username and password for a staff account."


def _console_sign_in(page, url: str, username: str, password: str = PASSWORD, next_path: str = "/admin/") -> None:
    page.goto(f"{url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form input[type=submit]")
    page.wait_for_load_state()


def _errornote(page) -> str:
    notes = page.locator("p.errornote")
    return " ".join(notes.nth(i).inner_text() for i in range(notes.count()))


def test_console_brute_force_is_limited_on_the_api_counters(live_server, page, signing_key, settings):
    from rest_framework.test import APIClient

    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "LOGIN_DELAY_AFTER": 3, "LOGIN_HARD_LOCK_AFTER": 1000}
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    for _ in range(3):
        _console_sign_in(page, live_server.url, "root", "wrong password!")
        assert WRONG in _errornote(page) and "/admin/login/" in page.url
    # Same counter as the API's: the right password, from another address, inside the delay.
    r = APIClient().post("/v1/auth/login", {"username": "root", "password": PASSWORD}, format="json",
                         REMOTE_ADDR="198.51.100.7")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    # ...and failures the API counts hold the console's door shut: wait out each window (1 s,
    # then 2 s) so that the API's two failures count, leaving a 4 s window for the console.
    api = APIClient()
    for wait in (1.1, 2.1):
        time.sleep(wait)
        assert api.post("/v1/auth/login", {"username": "root", "password": "wrong password!"}, format="json",
                        REMOTE_ADDR="198.51.100.7").status_code == 401
    _console_sign_in(page, live_server.url, "root")
    assert "Too many attempts" in _errornote(page)
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url  # not signed in
    # every attempt is in the trail with its door: 3 wrong and 1 refused at the console, the
    # API's 1 refused and 2 wrong
    failed = AuditEvent.objects.filter(action="login.failed", subject_user_id=staff.pk)
    by_door = sorted((e.metadata["channel"], e.metadata["reason"]) for e in failed)
    assert by_door == sorted([("console", "invalid_credentials")] * 3 + [("console", "rate_limited")]
                             + [("api", "rate_limited")] + [("api", "invalid_credentials")] * 2), by_door
    assert AuditEvent.objects.filter(action="login.throttled", subject_user_id=staff.pk).exists()
    # failures the API counted make the console refuse as well (per client IP here)
    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "IP_FAILURES_LIMIT": 2, "LOGIN_DELAY_AFTER": 100}
    from django.core.cache import cache

    cache.clear()
    UserFactory(username="other-staff", user_type="staff")
    for name in ("someone", "else"):
        assert api.post("/v1/auth/login", {"username": name, "password": "x" * 12}, format="json",
                        REMOTE_ADDR="127.0.0.1").status_code == 401
    _console_sign_in(page, live_server.url, "other-staff")
    assert "Too many attempts" in _errornote(page) and "/admin/login/" in page.url


def test_console_asks_staff_with_a_second_factor_for_it(live_server, page, signing_key, tmp_path):
    import pyotp

    from accounts.models import TotpDevice
    from accounts.security import mfa

    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    totp = pyotp.TOTP(mfa.totp_setup(user=staff)["secret"])
    TotpDevice.objects.filter(user=staff).update(confirmed=True)
    _console_sign_in(page, live_server.url, "root", next_path="/admin/accounts/user/")
    # the password alone is not a way in
    assert page.locator("#second-factor-form").count() == 1
    page.screenshot(path=str(tmp_path / "console-second-step.png"))
    assert AuditEvent.objects.filter(action="login.challenged", subject_user_id=staff.pk,
                                     metadata__channel="console").count() == 1
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    page.fill("#id_code", wrong)
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_load_state()
    assert "The code is wrong" in _errornote(page)
    assert AuditEvent.objects.filter(action="mfa.failed", subject_user_id=staff.pk,
                                     metadata__channel="console").count() == 1
    page.goto(f"{live_server.url}/admin/accounts/user/")  # the pending step signs nobody in...
    assert "/admin/login/" in page.url
    assert page.locator("#second-factor-form").count() == 1  # ...and the step waits where it was
    page.select_option("#id_method", "totp")
    page.fill("#id_code", totp.now())
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_url("**/admin/accounts/user/")
    ok = AuditEvent.objects.get(action="login.succeeded", subject_user_id=staff.pk)
    assert ok.metadata["channel"] == "console" and "mfa" in ok.metadata["amr"]
    assert LoginEvent.objects.filter(user=staff, result="success", method="mfa").count() == 1


def test_console_backup_code_step(live_server, page, signing_key):
    import pyotp  # noqa: F401 - the device needs no code here

    from accounts.models import TotpDevice
    from accounts.security import mfa

    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    mfa.totp_setup(user=staff)
    TotpDevice.objects.filter(user=staff).update(confirmed=True)
    codes = mfa.backup_codes_regenerate(user=staff)
    _console_sign_in(page, live_server.url, "root")
    page.select_option("#id_method", "backup_code")
    page.fill("#id_code", codes[0])
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith("/admin") and page.locator("#site-name").count() == 1


def test_force_logout_action_records_its_event_and_ends_console_sessions(live_server, page, signing_key):
    from rest_framework.test import APIClient

    from custos import metrics
    from tests.conftest import login

    UserFactory(username="root", user_type="staff", is_superuser=True)
    alice = UserFactory(username="alice", user_type="staff", is_superuser=True)
    tokens = login(APIClient(), "alice")
    # alice works in the console in her own browser context
    alice_page = page.context.browser.new_page()
    _console_sign_in(alice_page, live_server.url, "alice")
    alice_page.goto(f"{live_server.url}/admin/accounts/user/")
    assert "/admin/login/" not in alice_page.url
    before = metrics.FORCED_LOGOUTS.labels("user")._value.get()
    _console_sign_in(page, live_server.url, "root", next_path="/admin/accounts/user/")
    page.fill("#searchbar", "alice")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    page.locator("#result_list tbody tr").first.locator("input.action-select").check()
    page.select_option("select[name=action]", "force_logout")
    page.click("button[name=index]")
    page.wait_for_load_state()
    page.click("#confirm-yes")
    page.wait_for_load_state()
    assert "Signed out 1 account(s) everywhere." in page.locator("ul.messagelist").inner_text()
    ev = AuditEvent.objects.get(action="user.forced_logout", subject_user_id=alice.pk)
    assert ev.actor_id == str(User.objects.get(username="root").pk)
    assert metrics.FORCED_LOGOUTS.labels("user")._value.get() == before + 1
    # her console session ends at once, like her tokens
    alice_page.goto(f"{live_server.url}/admin/accounts/user/")
    assert "/admin/login/" in alice_page.url
    r = APIClient().post("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert r.status_code == 401


def test_console_session_ends_when_the_token_version_changes(live_server, page, signing_key):
    from accounts import services
    from audit.services import Actor

    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    _console_sign_in(page, live_server.url, "root")
    page.goto(f"{live_server.url}/admin/accounts/user/")
    assert "/admin/login/" not in page.url
    services.user_token_version_bump(user_id=staff.pk, actor=Actor.system("test"), reason="test")
    page.goto(f"{live_server.url}/admin/accounts/user/")
    assert "/admin/login/" in page.url
    # signing in again works, and signing out is audited with its channel
    _console_sign_in(page, live_server.url, "root")
    page.click("#logout-form button")
    page.wait_for_load_state()
    assert AuditEvent.objects.filter(action="logout", subject_user_id=staff.pk, metadata__channel="console").exists()


def test_console_password_change_is_the_apis(live_server, page, signing_key, mailoutbox):
    """Django's own password-change page checked the old password with no limit, no audit and
    no notice, and left the API sessions alive; the console's is accounts' service."""
    from rest_framework.test import APIClient

    from tests.conftest import login

    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    tokens = login(APIClient(), "root")
    _console_sign_in(page, live_server.url, "root")
    page.goto(f"{live_server.url}/admin/password_change/")
    page.fill("#id_old_password", "not my password at all")
    page.fill("#id_new_password1", "a new console passphrase 2026")
    page.fill("#id_new_password2", "a new console passphrase 2026")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "The current password is not correct." in page.content()
    failed = AuditEvent.objects.get(action="reauth.failed", subject_user_id=staff.pk)
    assert failed.metadata["during"] == "password_change" and failed.metadata["consecutive"] == 1
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "a new console passphrase 2026")
    page.fill("#id_new_password2", "a new console passphrase 2026")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/password_change/done/")
    staff.refresh_from_db()
    assert staff.check_password("a new console passphrase 2026")
    assert AuditEvent.objects.filter(action="password.changed", subject_user_id=staff.pk).count() == 1
    subjects = [m.subject for m in mailoutbox if m.to == [staff.email]]
    assert subjects.count("Your Fly password was changed") == 1  # (the console's browser was a new device too)
    r = APIClient().post("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert r.status_code == 401  # the API sessions ended with the old password
    page.goto(f"{live_server.url}/admin/")  # this console session stays
    assert "/admin/login/" not in page.url
