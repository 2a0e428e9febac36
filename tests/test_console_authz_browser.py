"""Roles, the why tool and service keys in a real browser (Debian chromium driven by playwright,
as tests/test_admin_browser.py). With CUSTOS_CONSOLE_SHOTS=<dir> the pages' screenshots are
saved there (docs/console/*.png come from `CUSTOS_CONSOLE_SHOTS=docs/console`)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts.services import tenant_create
from audit.models import AuditEvent
from audit.services import Actor
from authz import selectors, services
from authz.models import ServiceKey
from authz.subjects import tenant_domain, user_subject
from tests.browser import chromium
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = Actor.system("test")
# playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
# still synchronous, so Django's async guard must stand aside for this module.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go: the directory CUSTOS_CONSOLE_SHOTS names, else the test's own."""
    target = Path(os.environ.get("CUSTOS_CONSOLE_SHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str) -> None:
        page.screenshot(path=str(target / name), full_page=True)

    return shot


def _sign_in(page, url: str, username: str, next_path: str) -> None:
    page.goto(f"{url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(f"**{next_path.split('?')[0]}**")


def test_staff_grant_a_role_in_a_tenant_then_ask_why(live_server, page, signing_key, shots):
    services.platform_roles_seed()
    acme = tenant_create(name="acme", actor=SYSTEM)
    dom = tenant_domain(acme.pk)
    services.role_create(name="support", domain=dom, actor=SYSTEM,
                         permissions=[("/tickets/*", "read"), ("/tickets/:id", "write"), ("/faq", "read")])
    services.role_create(name="helpdesk", domain=dom, actor=SYSTEM, permissions=[("/chats/*", "*")])
    services.subject_role_grant(subject="helpdesk", role="support", domain=dom, actor=SYSTEM)
    for _ in range(3):
        u = UserFactory(tenant=acme)
        services.subject_role_grant(subject=user_subject(u.pk), role="support", domain=dom, actor=SYSTEM,
                                    subject_user_id=u.pk)
    services.subject_role_grant(subject="svc:ticket-sync", role="support", domain=dom, actor=SYSTEM)
    carol = UserFactory(username="carol", tenant=acme)
    root = UserFactory(username="root", user_type="staff", is_superuser=True)

    _sign_in(page, live_server.url, "root", "/admin/authz/role/")
    page.select_option("#id_domain", dom)
    page.click("#domain-picker input[type=submit]")
    page.wait_for_url("**/admin/authz/role/?domain=tenant*")
    helpdesk = page.locator('tr.role-row[data-role="helpdesk"]')
    assert "/chats/*" in helpdesk.inner_text() and helpdesk.locator("td.members").inner_text() == "0"
    assert page.locator('tr.role-row[data-role="support"] td.members').inner_text() == "4"
    shots(page, "roles.png")

    helpdesk.locator("a").first.click()
    page.wait_for_url(f"**/admin/authz/role/{dom}/helpdesk/change/")
    page.fill("#id_subject", str(carol.pk))
    page.click("#grant-submit")
    page.wait_for_load_state()
    assert f"Granted “helpdesk” to user:{carol.pk} in {dom}." in page.locator("ul.messagelist").inner_text()
    assert page.locator(f'tr.member-row[data-subject="user:{carol.pk}"]').count() == 1
    shots(page, "role-edit.png")
    assert selectors.subject_roles(user_subject(carol.pk), dom) == ["helpdesk"]
    granted = AuditEvent.objects.get(action="role.granted", subject_user_id=carol.pk)
    assert granted.actor_type == "user" and granted.actor_id == str(root.pk)

    # the member's "Explain…" link opens the why tool with the subject and the tenant filled in
    page.locator(f'tr.member-row[data-subject="user:{carol.pk}"] a.explain').click()
    page.wait_for_url("**/admin/authz/why/**")
    assert page.input_value("#id_subject") == f"user:{carol.pk}"
    assert page.input_value("#id_domain") == dom
    page.fill("#id_object", "/tickets/7")
    page.fill("#id_action", "read")
    page.click("#why-submit")
    page.wait_for_selector("#why-decision")
    assert page.locator("#why-decision").inner_text().startswith("Allowed")
    path = page.locator(f'.why-domain[data-domain="{dom}"] .why-matches li').first.inner_text()
    assert path.startswith(f"user:{carol.pk} → helpdesk → support → (/tickets/*, read)"), path
    shots(page, "why.png")

    # and a denial: the roles carol holds there, and that no rule matched
    page.fill("#id_action", "delete")
    page.click("#why-submit")
    page.wait_for_selector("#why-decision")
    assert page.locator("#why-decision").inner_text().startswith("Denied")
    tenant_part = page.locator(f'.why-domain[data-domain="{dom}"]')
    assert "no rule matches" in tenant_part.inner_text() and "helpdesk" in tenant_part.inner_text()
    assert "(/tickets/:id, write)" in tenant_part.locator(".why-near").inner_text()


def test_staff_create_a_service_key_and_see_its_secret_once(live_server, page, signing_key, shots):
    services.platform_roles_seed()
    old, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    services.subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=SYSTEM)
    retired, _ = services.service_key_create(name="nightly-export", actor=SYSTEM)
    services.service_key_revoke(key_id=retired.key_id, actor=SYSTEM)
    UserFactory(username="root", user_type="staff", is_superuser=True)

    _sign_in(page, live_server.url, "root", "/admin/authz/servicekey/")
    page.click(".object-tools a.addlink")
    page.wait_for_url("**/admin/authz/servicekey/add/")
    page.fill("#id_name", "clotho")
    page.click("#servicekey-form input[type=submit]")
    page.wait_for_selector("#service-key-secret")
    secret = page.input_value("#service-key-secret")
    key = ServiceKey.objects.exclude(pk=old.pk).get(name="clotho")
    assert secret.startswith(key.key_id + ".")
    raw = secret.split(".", 1)[1]

    # the key works at once, with the roles its service already holds
    from rest_framework.test import APIClient

    answer = APIClient().post("/v1/authz/check", {"subject": "user:1", "tenant": "platform", "object": "/x",
                                                  "action": "read"}, format="json",
                              HTTP_AUTHORIZATION=f"ApiKey {secret}")
    assert answer.status_code == 200 and answer.json() == {"allowed": False}

    # never again: not on the key's page, not in the list, not when the page is opened anew
    page.click("#key-page")
    page.wait_for_url(f"**/admin/authz/servicekey/{key.pk}/change/")
    assert raw not in page.content()
    assert page.locator('tr.service-role[data-domain="platform"][data-role="gateway"]').count() == 1
    page.goto(f"{live_server.url}/admin/authz/servicekey/")
    assert raw not in page.content()
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert "gateway in platform" in page.locator("#result_list").inner_text()
    shots(page, "service-keys.png")
