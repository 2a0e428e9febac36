"""The console's tenant scope (issue 17, docs/console-users.md): a tenant administrator sees and acts
on their own tenant's users only (list, search, user page, actions, panels; another tenant's user
is a 404); platform staff see everything and may narrow the lists to one tenant."""
from __future__ import annotations

import importlib

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from audit.services import Actor
from tests.conftest import grant
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/accounts/user/"


def _console(user) -> Client:
    client = Client()
    client.force_login(user, backend="accounts.backends.CustosModelBackend")
    return client


@pytest.fixture
def world():
    """Two tenants with their built-in roles, a user each, and tenant A's administrator: a staff
    account of tenant A holding the built-in tenant_admin role in tenant A's domain."""
    from authz.services import platform_roles_seed, tenant_roles_seed

    platform_roles_seed()
    a, b = TenantFactory(name="north"), TenantFactory(name="south")
    for t in (a, b):
        tenant_roles_seed(tenant_id=t.pk)
    admin_a = UserFactory(username="lead-a", user_type="staff", tenant=a)
    grant(admin_a, "tenant_admin", a.pk)
    return {"a": a, "b": b, "admin_a": admin_a,
            "ua": UserFactory(username="ann", email="ann@example.com", tenant=a),
            "ub": UserFactory(username="ben", email="ben@example.com", tenant=b),
            "platform_user": UserFactory(username="pat", email="pat@example.com")}


def _ids(client, **params) -> set[int]:
    r = client.get(LIST, params)
    assert r.status_code == 200
    return {u.pk for u in r.context["cl"].result_list}


def test_tenant_admin_lists_and_searches_their_own_tenant_only(world):
    client = _console(world["admin_a"])
    listed = _ids(client)
    assert world["ua"].pk in listed and world["ub"].pk not in listed and world["platform_user"].pk not in listed
    assert _ids(client, q="@example.com") == {world["ua"].pk, world["admin_a"].pk}
    assert _ids(client, q="ben") == set() and _ids(client, q=f"id:{world['ub'].pk}") == set()
    assert _ids(client, q="ben@example.com") == set()
    # the tenant filter cannot widen it either
    assert world["ub"].pk not in _ids(client, tenant=str(world["b"].pk))
    page = client.get(LIST).content.decode()
    assert 'id="tenant-own"' in page and "north" in page and 'id="tenant-switch"' not in page


def test_another_tenants_user_is_a_404_everywhere(world, signing_key):
    client = _console(world["admin_a"])
    ub = world["ub"]
    assert client.get(f"{LIST}{world['ua'].pk}/change/").status_code == 200
    for url in (f"{LIST}{ub.pk}/change/", f"{LIST}{ub.pk}/history/", f"{LIST}{ub.pk}/act/freeze/",
                f"{LIST}999999/change/", f"{LIST}abc/change/"):
        r = client.get(url)
        assert r.status_code == 404, url
    assert client.post(f"{LIST}{ub.pk}/act/freeze/").status_code == 404
    assert client.post(f"{LIST}{ub.pk}/act/resetpassword/").status_code == 404
    assert client.post(f"{LIST}{ub.pk}/panel/sessions/revoke/", {"session_id": "x"}).status_code == 404
    assert client.post(f"{LIST}{ub.pk}/panel/roles/grant/",
                       {"role": f"tenant:{world['b'].pk}|auditor"}).status_code == 404
    assert client.post(f"{LIST}{ub.pk}/change/", {"username": "stolen"}).status_code == 404
    # a changelist action with another tenant's id among the selected ones skips it
    r = client.post(LIST, {"action": "action_freeze", "_selected_action": [ub.pk, world["ua"].pk],
                           "index": "0", "select_across": "0", "post": "yes"})
    assert r.status_code == 302
    assert User.objects.get(pk=ub.pk).status == "active" and User.objects.get(pk=world["ua"].pk).status == "disabled"
    assert not AuditEvent.objects.filter(subject_user_id=ub.pk, actor_id=str(world["admin_a"].pk)).exists()


def test_tenant_admin_acts_and_uses_panels_in_their_tenant(world, signing_key, django_capture_on_commit_callbacks):
    from authz.models import CasbinRule
    from sessions_app.models import Session
    from sessions_app.services import session_start

    client = _console(world["admin_a"])
    ua = world["ua"]
    session_start(user=ua, amr=["pwd"], actor=Actor.user(ua.pk))
    session = Session.objects.get(user_id=ua.pk)
    page = client.get(f"{LIST}{ua.pk}/change/").content.decode()
    for panel in ("sessions", "identities", "roles", "logins", "audit"):
        assert f'id="panel-{panel}"' in page
    assert "platform|" not in page  # no platform roles to grant
    assert client.post(f"{LIST}{ua.pk}/panel/sessions/revoke/", {"session_id": session.session_id}).status_code == 302
    assert Session.objects.get(pk=session.pk).revoked
    assert client.post(f"{LIST}{ua.pk}/panel/roles/grant/", {"role": f"tenant:{world['a'].pk}|auditor"}).status_code \
        == 302
    assert CasbinRule.objects.filter(ptype="g", v0=f"user:{ua.pk}", v1="auditor", v2=f"tenant:{world['a'].pk}").exists()
    # not in the platform domain, nor in another tenant's
    for role in ("platform|platform_admin", f"tenant:{world['b'].pk}|auditor"):
        client.post(f"{LIST}{ua.pk}/panel/roles/grant/", {"role": role})
    assert CasbinRule.objects.filter(ptype="g", v0=f"user:{ua.pk}").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{LIST}{ua.pk}/act/lock/").status_code == 302
    assert User.objects.get(pk=ua.pk).status == "locked"
    assert AuditEvent.objects.get(action="user.locked", subject_user_id=ua.pk).actor_id == str(world["admin_a"].pk)


def test_tenant_admin_may_not_touch_staff_accounts_nor_make_one(world):
    client = _console(world["admin_a"])
    colleague = UserFactory(username="staff-a", user_type="staff", tenant=world["a"])
    assert client.get(f"{LIST}{colleague.pk}/change/").status_code == 200  # visible, read-only
    assert client.post(f"{LIST}{colleague.pk}/act/freeze/").status_code == 403
    assert client.post(f"{LIST}{colleague.pk}/panel/roles/grant/",
                       {"role": f"tenant:{world['a'].pk}|tenant_admin"}).status_code == 403
    assert client.post(f"{LIST}{colleague.pk}/change/", {"username": "renamed", "user_type": "customer"}
                       ).status_code == 403
    assert User.objects.get(pk=colleague.pk).status == "active"
    add = client.get(f"{LIST}add/")
    assert add.status_code == 200
    form = add.context["form"]
    assert [c for c, _ in form.fields["tenant"].choices] == [world["a"].pk]
    assert "staff" not in [c for c, _ in form.fields["user_type"].choices]
    r = client.post(f"{LIST}add/", {"username": "mint", "user_type": "staff", "tenant": world["a"].pk,
                                     "how": "password", "password": "a long enough console passphrase 2026"})
    assert r.status_code == 200 and not User.objects.filter(username="mint").exists()
    r = client.post(f"{LIST}add/", {"username": "elsewhere", "user_type": "customer", "tenant": world["b"].pk,
                                     "how": "password", "password": "a long enough console passphrase 2026"})
    assert r.status_code == 200 and not User.objects.filter(username="elsewhere").exists()
    r = client.post(f"{LIST}add/", {"username": "newcomer", "user_type": "customer", "tenant": world["a"].pk,
                                     "how": "password", "password": "a long enough console passphrase 2026"})
    assert r.status_code == 302 and User.objects.get(username="newcomer").tenant_id == world["a"].pk


def test_tenant_rights_open_only_the_users_page(world):
    client = _console(world["admin_a"])
    for url in ("/admin/audit/auditevent/", "/admin/accounts/tenant/", "/admin/keys/jwkkey/", f"{LIST}merge/"):
        assert client.get(url).status_code == 403, url
    index = client.get("/admin/").content.decode()
    assert "/admin/accounts/user/" in index and "/admin/accounts/tenant/" not in index


def test_a_customer_with_tenant_admin_is_no_console_user(world):
    customer = UserFactory(username="boss", tenant=world["a"])
    grant(customer, "tenant_admin", world["a"].pk)
    r = _console(customer).get(LIST)
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_platform_staff_see_everything_and_switch_tenant(world):
    from authz.backends import console_scope

    root = UserFactory(user_type="staff", is_superuser=True)
    support = UserFactory(user_type="staff", tenant=world["a"])  # platform rights win over a home tenant
    grant(support, "platform_admin")
    assert console_scope(support) is None and console_scope(world["admin_a"]) == frozenset({world["a"].pk})
    for staff in (root, support):
        client = _console(staff)
        everyone = _ids(client)
        assert {world["ua"].pk, world["ub"].pk, world["platform_user"].pk} <= everyone
        assert client.get(f"{LIST}{world['ub'].pk}/change/").status_code == 200
        assert client.get(f"{LIST}tenant/").status_code == 405
        r = client.post(f"{LIST}tenant/", {"tenant": world["b"].pk})
        assert r.status_code == 302
        assert _ids(client) == {world["ub"].pk}
        assert _ids(client, q="@example.com") == {world["ub"].pk}
        page = client.get(LIST).content.decode()
        assert 'id="tenant-chosen"' in page and "south" in page
        # the user page of another tenant's user stays reachable: the switch narrows lists
        assert client.get(f"{LIST}{world['ua'].pk}/change/").status_code == 200
        assert client.post(f"{LIST}tenant/", {"tenant": "99999"}).status_code == 302
        assert _ids(client) == {world["ub"].pk}  # an unknown tenant changes nothing
        client.post(f"{LIST}tenant/", {"tenant": ""})
        assert _ids(client) == everyone


def test_the_switch_is_the_platforms(world):
    client = _console(world["admin_a"])
    assert client.post(f"{LIST}tenant/", {"tenant": world["b"].pk}).status_code == 403
    assert world["ub"].pk not in _ids(client)


def test_backend_counts_tenant_rights_for_scoped_pages_only(world):
    admin_a = world["admin_a"]
    assert admin_a.has_perm("accounts.view_user") and admin_a.has_perm("accounts.freeze_user")
    assert not admin_a.has_perm("accounts.merge_user")
    assert not admin_a.has_perm("accounts.view_tenant") and not admin_a.has_perm("audit.view_auditevent")
    assert admin_a.has_module_perms("accounts") and not admin_a.has_module_perms("audit")
    # the same role held in another tenant's domain gives nothing here
    other = UserFactory(user_type="staff", tenant=world["a"])
    grant(other, "tenant_admin", world["b"].pk)
    assert not other.has_perm("accounts.view_user") and not other.has_module_perms("accounts")


def test_existing_tenants_get_the_console_rights_from_the_migration(world):
    from django.apps import apps

    from authz.models import CasbinRule
    from authz.services import tenant_roles_seed

    old = TenantFactory(name="old")  # made before the role had these rights: strip them
    tenant_roles_seed(tenant_id=old.pk)
    rules = CasbinRule.objects.filter(ptype="p", v0="tenant_admin", v1=f"tenant:{old.pk}", v2="/admin/accounts/user")
    rules.delete()
    migration = importlib.import_module("authz.migrations.0005_tenant_admin_console_users")
    migration.forward(apps, None)
    assert set(rules.values_list("v3", flat=True)) == set(migration.ACTIONS)
    migration.forward(apps, None)  # twice is harmless
    assert rules.count() == len(migration.ACTIONS)
    from authz.builtin import TENANT_CONSOLE_USER_ACTIONS

    assert set(TENANT_CONSOLE_USER_ACTIONS) == set(migration.ACTIONS)
