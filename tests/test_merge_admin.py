"""Staff merge two accounts in the console (issue 16): dry run first, then confirm; the API's
service runs with the staff member as actor, across tenants if need be."""
from __future__ import annotations

import pytest

from accounts import services
from accounts.models import User
from audit.models import AuditEvent
from audit.services import Actor
from federation.models import UserOAuth
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/admin/accounts/user/merge/"


@pytest.fixture
def console(client):
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    client.force_login(staff, backend="accounts.backends.CustosModelBackend")
    client.staff = staff
    return client


def _accounts():
    t1 = services.tenant_create(name="north", actor=Actor.system("test"))
    t2 = services.tenant_create(name="south", actor=Actor.system("test"))
    primary, secondary = UserFactory(tenant=t1), UserFactory(tenant=t2)
    UserOAuth.objects.create(user=secondary, provider="wechat", issuer="wechat", provider_uid="o-sec")
    return primary, secondary


def test_dry_run_then_confirm_merges_with_the_staff_actor(console, signing_key):
    primary, secondary = _accounts()
    form = {"primary": primary.pk, "secondary": secondary.pk, "reason": "ticket 7: same person"}
    page = console.get(f"{URL}?primary={primary.pk}&secondary={secondary.pk}")
    assert page.status_code == 200 and b'id="merge-dry-run"' in page.content
    dry = console.post(URL, {**form, "confirm": "0"})
    assert dry.status_code == 200
    assert b'id="merge-plan"' in dry.content and b"identities" in dry.content
    assert b'id="merge-confirm"' in dry.content  # staff may cross tenants: nothing blocks
    assert User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="user.merged").exists()
    # a confirmation without the dry run's token (or for another pair) only runs the dry run again
    again = console.post(URL, {**form, "confirm": "1"})
    assert again.status_code == 200 and User.objects.get(pk=secondary.pk).status == User.Status.ACTIVE
    other = UserFactory()
    token = dry.context["plan_token"]
    console.post(URL, {**form, "secondary": other.pk, "confirm": "1", "plan": token})
    assert User.objects.get(pk=other.pk).status == User.Status.ACTIVE
    done = console.post(URL, {**form, "confirm": "1", "plan": token})
    assert done.status_code == 302 and done["Location"].endswith(f"/admin/accounts/user/{primary.pk}/change/")
    s = User.objects.get(pk=secondary.pk)
    assert s.status == User.Status.MERGED and s.merged_into_id == primary.pk
    assert UserOAuth.objects.get(provider_uid="o-sec").user_id == primary.pk
    event = AuditEvent.objects.get(action="user.merged")
    assert event.actor_id == str(console.staff.pk) and event.metadata["reason"] == "ticket 7: same person"
    assert event.metadata["proof"] == "staff"


def test_refusals_show_their_code_and_change_nothing(console, signing_key):
    primary, secondary = _accounts()
    services.user_transition(user_id=secondary.pk, action="freeze", actor=Actor.system("test"))
    r = console.post(URL, {"primary": primary.pk, "secondary": secondary.pk, "reason": "x", "confirm": "0"})
    assert r.status_code == 200 and b"merge_target_invalid" in r.content
    r = console.post(URL, {"primary": primary.pk, "secondary": primary.pk, "reason": "x", "confirm": "0"})
    assert b"merge_self" in r.content
    r = console.post(URL, {"primary": "abc", "secondary": secondary.pk, "reason": "", "confirm": "0"})
    assert r.status_code == 200 and b"errorlist" in r.content
    assert not AuditEvent.objects.filter(action="user.merged").exists()


def test_the_changelist_action_opens_the_page_for_two_accounts(console, signing_key):
    a, b = UserFactory(), UserFactory()
    r = console.post("/admin/accounts/user/", {"action": "merge_selected", "_selected_action": [b.pk, a.pk]})
    assert r.status_code == 302 and r["Location"] == f"{URL}?primary={a.pk}&secondary={b.pk}"
    r = console.post("/admin/accounts/user/", {"action": "merge_selected", "_selected_action": [a.pk]})
    assert r.status_code in (200, 302) and User.objects.get(pk=a.pk).status == User.Status.ACTIVE


def test_customers_and_anonymous_callers_get_no_merge_page(client, signing_key):
    a, b = UserFactory(), UserFactory()
    r = client.post(URL, {"primary": a.pk, "secondary": b.pk, "reason": "x", "confirm": "0"})
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    client.force_login(UserFactory(), backend="accounts.backends.CustosModelBackend")
    r = client.post(URL, {"primary": a.pk, "secondary": b.pk, "reason": "x", "confirm": "0"})
    assert r.status_code in (302, 403)
    assert User.objects.get(pk=b.pk).status == User.Status.ACTIVE
