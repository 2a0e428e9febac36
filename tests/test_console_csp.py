"""The console's Content-Security-Policy (issue 18): every main console page renders and runs its
own scripts under it, with no violation reported by a real browser; an injected inline script
would not run."""
from __future__ import annotations

import os

import pytest
from django.test import Client

from accounts.models import Tenant
from tests.factories import UserFactory
from tests.test_admin_browser import page  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.django_db(transaction=True)
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def test_console_pages_send_the_policy_and_the_api_does_not(signing_key):
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    client = Client()
    client.force_login(staff, backend="accounts.backends.CustosModelBackend")
    csp = client.get("/admin/")["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "Content-Security-Policy" in Client().get("/admin/login/")
    assert "Content-Security-Policy" not in Client().get("/healthz")


def test_every_main_page_runs_under_the_policy(live_server, page, signing_key):  # noqa: F811
    tenant = Tenant.objects.create(name="acme")
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    someone = UserFactory(username="dora", email="dora@example.org", tenant=tenant)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: violations.append(f"page error: {e}"))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    from tests.factories import PASSWORD

    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert staff.pk
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{someone.pk}/change/",
                 "/admin/accounts/user/add/", "/admin/accounts/tenant/", "/admin/authz/role/", "/admin/authz/why/",
                 "/admin/authz/servicekey/", "/admin/authz/servicekey/add/", "/admin/keys/jwkkey/",
                 "/admin/keys/jwkkey/rotate/", "/admin/federation/oauthprovider/",
                 "/admin/federation/oauthprovider/add/", "/admin/audit/auditevent/", "/admin/accounts/user/merge/",
                 "/admin/no/such/page/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    # the admin's own scripts ran: "select all" on the users list ticks every row and counts them
    page.goto(f"{live_server.url}/admin/accounts/user/")
    page.check("#action-toggle")
    assert "selected" in page.inner_text(".action-counter")
    assert page.locator("input.action-select:checked").count() == page.locator("input.action-select").count() >= 2
    assert violations == []  # every page above, under the policy, without a single refusal
    # and a script written into a page does not run
    page.set_content("<html><body><script>window.__ran = 1</script></body></html>")
    page.goto(f"{live_server.url}/admin/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("() => window.__ran") is None
    assert any("Content Security Policy" in v for v in violations)  # that one was refused, and reported
