"""The first-time setup in a real browser (Debian chromium driven by playwright): the printed link,
the form with its QR code, an authenticator code, the backup codes, then the first sign-in to the
console with the password and a code of the authenticator just enrolled."""
from __future__ import annotations

import os
import re
import time
from io import StringIO

import pyotp
import pytest
from django.core.management import call_command

from accounts.models import User
from audit.models import AuditEvent
from tests.test_admin_browser import page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
GOOD = "correct horse battery staple 42"
SHOTS = os.environ.get("CUSTOS_CONSOLE_SCREENSHOTS")


def test_setup_then_the_first_sign_in(live_server, page, signing_key, settings, tmp_path):  # noqa: F811
    settings.CUSTOS_ISSUER = live_server.url
    out = StringIO()
    call_command("setup_link", stdout=out)
    link = re.search(r"(http\S+/setup/\?token=\S+)", out.getvalue()).group(1)
    assert link.startswith(live_server.url)

    page.goto(link)
    assert page.url == f"{live_server.url}/setup/"  # the token left the address bar
    assert page.locator("#setup-qr svg").count() == 1
    secret = page.inner_text("#setup-secret")
    if SHOTS:
        page.screenshot(path="docs/console/setup.png", full_page=True)
    page.fill("#id_username", "founder")
    page.fill("#id_email", "ops@example.com")
    page.fill("#id_password1", GOOD)
    page.fill("#id_password2", GOOD)
    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "founder" in page.inner_text("#content-main")
    assert page.locator("#backup-codes li").count() == 10
    assert User.objects.get(username="founder").is_superuser
    assert AuditEvent.objects.filter(action="setup.completed").count() == 1

    # the page is gone, in this browser too
    gone = page.goto(link)
    assert gone.status == 404 and "no such page" in page.inner_text("body").lower()

    # the first sign-in: the password, then a code of the authenticator enrolled above
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "founder")
    page.fill("#id_password", GOOD)
    page.click("input[type=submit]")
    page.wait_for_selector("#second-factor-form")
    page.fill("#id_code", pyotp.TOTP(secret).at(time.time() + 30))  # the next step: codes are single use
    page.click("#second-factor-form input[type=submit]")
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith("/admin") and "Custos console" in page.title()
    assert "Site administration" not in page.inner_text("body")
