"""Roles, the why tool and service keys in the staff console (issue 17, docs/console-authz.md):
every action through the API's authz services, audited with the staff member as actor, each
behind its own permission; built-in roles guarded; bad input a form error; a service key's
secret shown once; and the why tool's explanation agreeing with the enforcer."""
from __future__ import annotations

import logging
import random

import pytest
from django.test import Client

from accounts.services import tenant_create
from audit.models import AuditEvent
from audit.services import Actor
from authz import selectors, services
from authz.enforcer import enforcer, reset_enforcer
from authz.engine import MAX_ROLE_DEPTH, PolicyIndex
from authz.models import CasbinRule, ServiceKey, rule_key
from authz.subjects import PLATFORM_DOMAIN, service_subject, tenant_domain, user_subject
from tests.factories import UserFactory

SYSTEM = Actor.system("test")


def _console(user) -> Client:
    client = Client()
    client.force_login(user, backend="accounts.backends.CustosModelBackend")
    return client


def _rule_for(perm: str) -> tuple[str, str]:
    """`authz.view_role` -> ("/admin/authz/role", "view"), as authz.backends reads it."""
    app, _, codename = perm.partition(".")
    action, _, model = codename.partition("_")
    return f"/admin/{app}/{model}", action


@pytest.fixture
def staff_with(django_capture_on_commit_callbacks):
    """A staff member (not a superuser) holding exactly the given console permissions."""

    def make(*perms: str):
        user = UserFactory(user_type="staff")
        with django_capture_on_commit_callbacks(execute=True):
            services.platform_roles_seed()
            if perms:
                role = f"console_{user.pk}"
                services.role_create(name=role, domain=PLATFORM_DOMAIN, actor=SYSTEM,
                                     permissions=[_rule_for(p) for p in perms])
                services.subject_role_grant(subject=user_subject(user.pk), role=role, domain=PLATFORM_DOMAIN,
                                            actor=SYSTEM, subject_user_id=user.pk)
        return user

    return make


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    """A tenant with its built-in roles, a custom role with two members, and a superuser."""
    with django_capture_on_commit_callbacks(execute=True):
        services.platform_roles_seed()
        acme = tenant_create(name="acme", actor=SYSTEM)
        other = tenant_create(name="globex", actor=SYSTEM)
        dom = tenant_domain(acme.pk)
        services.role_create(name="support", domain=dom, actor=SYSTEM,
                             permissions=[("/tickets/*", "read"), ("/tickets/:id", "write")])
        alice, bob = UserFactory(tenant=acme), UserFactory(tenant=acme)
        for u in (alice, bob):
            services.subject_role_grant(subject=user_subject(u.pk), role="support", domain=dom, actor=SYSTEM,
                                        subject_user_id=u.pk)
    root = UserFactory(user_type="staff", is_superuser=True)
    return {"acme": acme, "other": other, "dom": dom, "alice": alice, "bob": bob, "root": root,
            "client": _console(root)}


def _events(action: str, **metadata) -> list[AuditEvent]:
    qs = AuditEvent.objects.filter(action=action)
    return [e for e in qs if all(e.metadata.get(k) == v for k, v in metadata.items())]


# ---- the index and the roles page ---------------------------------------------------------------
def test_console_index_lists_the_authz_pages_by_permission(world, staff_with):
    index = world["client"].get("/admin/").content.decode()
    for href in ("/admin/authz/role/", "/admin/authz/why/", "/admin/authz/servicekey/"):
        assert f'href="{href}"' in index
    viewer = _console(staff_with("authz.view_role")).get("/admin/").content.decode()
    assert 'href="/admin/authz/role/"' in viewer
    assert 'href="/admin/authz/why/"' not in viewer and 'href="/admin/authz/servicekey/"' not in viewer


def test_roles_page_shows_each_domains_roles_with_permissions_and_member_counts(world):
    client, dom = world["client"], world["dom"]
    page = client.get(f"/admin/authz/role/?domain={dom}").content.decode()
    assert "Roles in acme (" + dom + ")" in page
    row = page[page.index('data-role="support"'):]
    row = row[:row.index("</tr>")]
    assert "<code>/tickets/*</code> read" in row and "<code>/tickets/:id</code> write" in row
    assert '<td class="members">2</td>' in row  # alice and bob
    assert 'data-role="tenant_admin"' in page and "built-in" in page
    # the picker offers every domain; the platform is the default
    platform = client.get("/admin/authz/role/").content.decode()
    assert 'data-role="platform_admin"' in platform and 'data-role="support"' not in platform
    assert f'value="{tenant_domain(world["other"].pk)}"' in platform


@pytest.mark.parametrize("domain, error", [("tenant:999999", "No such tenant"), ("nonsense", "No such tenant"),
                                           ("tenant:abc", "No such tenant"), ("", "This field is required")])
def test_an_unknown_domain_is_a_form_error_not_a_500(world, domain, error):
    r = world["client"].get("/admin/authz/role/", {"domain": domain})
    assert r.status_code == 200 and b"errornote" in r.content and error in r.content.decode()
    assert b'id="role-list"' not in r.content


def test_staff_create_a_role_audited_with_them_as_actor(world, django_capture_on_commit_callbacks):
    client, dom, root = world["client"], world["dom"], world["root"]
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/admin/authz/role/add/", {"domain": dom, "name": "billing",
                                                   "permissions": "/invoices/* read\n\n# comment\n/invoices, write\n"})
    assert r.status_code == 302 and r["Location"] == f"/admin/authz/role/{dom}/billing/change/"
    assert selectors.role_permissions("billing", dom) == [{"object": "/invoices", "action": "write"},
                                                          {"object": "/invoices/*", "action": "read"}]
    (event,) = _events("policy.changed", change="role_created", role="billing")
    assert event.actor_type == "user" and event.actor_id == str(root.pk) and event.metadata["domain"] == dom
    page = client.get(f"/admin/authz/role/{dom}/billing/change/").content.decode()
    assert "/invoices/* read" in page and "Role “billing” created" in page


@pytest.mark.parametrize("data, error", [
    ({"name": "Bad Name", "permissions": "/x read"}, "lower-case letters"),
    ({"name": "ok", "permissions": "orders read"}, "Line 1: A path such as"),
    ({"name": "ok", "permissions": "/a read\n/b READ!"}, "Line 2: An action such as"),
    ({"name": "ok", "permissions": "/a read extra"}, "Line 1: expected an object and an action"),
    ({"name": "ok", "permissions": "  \n \n"}, "This field is required"),
    ({"name": "ok", "permissions": "# only a comment"}, "A role needs at least one permission"),
    ({"name": "ok", "permissions": "/x read", "domain": "tenant:999999"}, "No such tenant"),
    ({"name": "support", "permissions": "/x read"}, "already exists"),
    ({"name": "ok", "permissions": "".join(f"/p{i} read\n" for i in range(501))}, "At most 500"),
])
def test_bad_role_input_is_a_form_error_and_writes_nothing(world, data, error):
    before, events = CasbinRule.objects.count(), AuditEvent.objects.count()
    r = world["client"].post("/admin/authz/role/add/", {"domain": world["dom"], **data})
    assert r.status_code == 200 and b"errornote" in r.content
    assert error in r.content.decode()
    assert CasbinRule.objects.count() == before and AuditEvent.objects.count() == events


def test_staff_replace_a_roles_permissions(world, django_capture_on_commit_callbacks):
    client, dom, root = world["client"], world["dom"], world["root"]
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/admin/authz/role/{dom}/support/change/",
                        {"op": "permissions", "permissions": "/tickets/* *\n/faq read"})
    assert r.status_code == 302
    assert selectors.role_permissions("support", dom) == [{"object": "/faq", "action": "read"},
                                                          {"object": "/tickets/*", "action": "*"}]
    (event,) = _events("policy.changed", change="role_permissions_replaced", role="support")
    assert event.actor_id == str(root.pk) and event.actor_type == "user"
    assert event.metadata["before"] == [["/tickets/*", "read"], ["/tickets/:id", "write"]]
    # bad lines: a form error, the role unchanged
    r = client.post(f"/admin/authz/role/{dom}/support/change/", {"op": "permissions", "permissions": "tickets read"})
    assert r.status_code == 200 and b"Line 1:" in r.content
    assert len(selectors.role_permissions("support", dom)) == 2


def test_a_built_in_role_changes_only_with_the_extra_confirmation(world, django_capture_on_commit_callbacks):
    client, dom = world["client"], world["dom"]
    before = selectors.role_permissions("tenant_admin", dom)
    url = f"/admin/authz/role/{dom}/tenant_admin/change/"
    assert b"This is a built-in role" in client.get(url).content
    r = client.post(url, {"op": "permissions", "permissions": "/users read"})
    assert r.status_code == 200 and b"tick the box to change it anyway" in r.content
    assert selectors.role_permissions("tenant_admin", dom) == before
    # the API lets a built-in role's permissions change; so does the console, once confirmed
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"op": "permissions", "permissions": "/users read", "confirm_builtin": "on"})
    assert r.status_code == 302
    assert selectors.role_permissions("tenant_admin", dom) == [{"object": "/users", "action": "read"}]


@pytest.mark.parametrize("domain_key, role", [("dom", "tenant_admin"), ("platform", "platform_admin")])
def test_a_built_in_role_cannot_be_deleted(world, domain_key, role):
    client = world["client"]
    dom = PLATFORM_DOMAIN if domain_key == "platform" else world[domain_key]
    url = f"/admin/authz/role/{dom}/{role}/delete/"
    page = client.get(url)
    assert page.status_code == 200 and b'id="builtin-refused"' in page.content
    assert b'id="confirm-delete"' not in page.content
    assert b'id="delete-role"' not in client.get(f"/admin/authz/role/{dom}/{role}/change/").content
    r = client.post(url)
    assert r.status_code == 409 and b"Built-in roles cannot be deleted" in r.content
    assert selectors.role_exists(role, dom)
    assert not _events("policy.changed", change="role_deleted")


def test_deleting_a_role_says_how_many_members_lose_it(world, django_capture_on_commit_callbacks):
    client, dom, root = world["client"], world["dom"], world["root"]
    url = f"/admin/authz/role/{dom}/support/delete/"
    page = client.get(url).content.decode()
    assert '<strong id="members-losing">2 members</strong>' in page
    assert user_subject(world["alice"].pk) in page
    assert selectors.role_exists("support", dom)  # showing the page changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url)
    assert r.status_code == 302 and r["Location"] == f"/admin/authz/role/?domain={dom}"
    assert not selectors.role_exists("support", dom)
    assert selectors.subject_roles(user_subject(world["alice"].pk), dom) == []
    (event,) = _events("policy.changed", change="role_deleted", role="support")
    assert event.actor_id == str(root.pk)
    assert sorted(event.metadata["members_removed"]) == sorted(user_subject(u.pk) for u in (world["alice"],
                                                                                           world["bob"]))


def test_unknown_roles_and_domains_in_the_address_are_the_consoles_404(world):
    client, dom = world["client"], world["dom"]
    for url in (f"/admin/authz/role/{dom}/nope/change/", "/admin/authz/role/tenant:999999/support/change/",
                f"/admin/authz/role/{dom}/Bad%20Name/change/", "/admin/authz/role/garbage/support/delete/"):
        r = client.get(url)
        assert r.status_code == 404 and b"There is no such page in the console" in r.content, url


def test_granting_and_revoking_a_role_from_its_page(world, django_capture_on_commit_callbacks):
    client, dom, root, acme = world["client"], world["dom"], world["root"], world["acme"]
    carol = UserFactory(tenant=acme)
    outsider = UserFactory(tenant=world["other"])
    url = f"/admin/authz/role/{dom}/support/change/"
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"op": "grant", "subject": str(carol.pk)})
    assert r.status_code == 302
    assert selectors.subject_roles(user_subject(carol.pk), dom) == ["support"]
    (event,) = _events("role.granted", subject=user_subject(carol.pk))
    assert event.actor_id == str(root.pk) and event.subject_user_id == carol.pk and event.tenant_id == acme.pk
    # a service may hold a tenant role too
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"op": "grant", "subject": "svc:helpdesk-bot"}).status_code == 302
    assert selectors.subject_roles("svc:helpdesk-bot", dom) == ["support"]
    # as the API: someone of another tenant, nobody, nonsense: form errors, nothing granted
    for subject, error in ((str(outsider.pk), "does not belong to this tenant"), ("99999999", "No such user"),
                           ("bob", "A user id"), ("svc:Bad Name", "A user id")):
        r = client.post(url, {"op": "grant", "subject": subject})
        assert r.status_code == 200 and error in r.content.decode(), subject
    assert selectors.subject_roles(user_subject(outsider.pk), dom) == []
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"op": "revoke", "subject": user_subject(carol.pk)})
    assert r.status_code == 302
    assert selectors.subject_roles(user_subject(carol.pk), dom) == []
    (event,) = _events("role.revoked", subject=user_subject(carol.pk))
    assert event.actor_id == str(root.pk)
    # revoking what nobody holds is a message, not an error page
    r = client.post(url, {"op": "revoke", "subject": user_subject(carol.pk)}, follow=True)
    assert r.status_code == 200 and b"does not hold that role" in r.content


# ---- every action behind its own permission -------------------------------------------------------
def _role_state(dom: str) -> tuple:
    return tuple(CasbinRule.objects.filter(v1=dom).order_by("pk").values_list("ptype", "v0", "v2", "v3")) + tuple(
        CasbinRule.objects.filter(v2=dom).order_by("pk").values_list("ptype", "v0", "v1"))


ACTIONS = [
    # (permission, method, url, data)
    ("authz.view_role", "get", "/admin/authz/role/?domain={dom}", None),
    ("authz.view_role", "get", "/admin/authz/role/{dom}/support/change/", None),
    ("authz.add_role", "post", "/admin/authz/role/add/", {"domain": "{dom}", "name": "newrole",
                                                         "permissions": "/x read"}),
    ("authz.change_role", "post", "/admin/authz/role/{dom}/support/change/",
     {"op": "permissions", "permissions": "/y read"}),
    ("authz.delete_role", "post", "/admin/authz/role/{dom}/support/delete/", {}),
    ("authz.grant_role", "post", "/admin/authz/role/{dom}/support/change/", {"op": "grant", "subject": "svc:x"}),
    ("authz.grant_role", "post", "/admin/authz/role/{dom}/support/change/",
     {"op": "revoke", "subject": "user:{alice}"}),
    ("authz.use_why", "get", "/admin/authz/why/?subject=user:{alice}&domain={dom}&object=/tickets/1&action=read",
     None),
    ("authz.view_servicekey", "get", "/admin/authz/servicekey/", None),
    ("authz.view_servicekey", "get", "/admin/authz/servicekey/{key}/change/", None),
    ("authz.add_servicekey", "post", "/admin/authz/servicekey/add/", {"name": "newsvc"}),
    ("authz.revoke_servicekey", "post", "/admin/authz/servicekey/{key}/revoke/", {}),
    ("authz.grant_servicekey", "post", "/admin/authz/servicekey/{key}/change/",
     {"op": "grant", "domain": "{dom}", "role": "support"}),
    ("authz.grant_servicekey", "post", "/admin/authz/servicekey/{key}/change/",
     {"op": "revoke_role", "domain": "platform", "role": "gateway"}),
]


def _fill(value, ctx: dict):
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    return value.format(**ctx) if isinstance(value, str) else value


@pytest.mark.parametrize("perm, method, url, data", ACTIONS, ids=[f"{a[0]}-{a[1]}-{i}" for i, a in enumerate(ACTIONS)])
def test_each_action_needs_its_own_permission(world, staff_with, django_capture_on_commit_callbacks,
                                              perm, method, url, data):
    key, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        services.subject_role_grant(subject=service_subject("clotho"), role="gateway", domain=PLATFORM_DOMAIN,
                                    actor=SYSTEM)
    ctx = {"dom": world["dom"], "alice": world["alice"].pk, "key": key.pk}
    url, data = _fill(url, ctx), _fill(data, ctx)
    # a staff member with every other permission of these pages, but not this one...
    without = _console(staff_with(*sorted({p for p, *_ in ACTIONS} - {perm})))
    # ...and one with it alone (plus seeing the page the action is on)
    needs_view = {"authz.change_role": "authz.view_role", "authz.grant_role": "authz.view_role",
                  "authz.grant_servicekey": "authz.view_servicekey"}
    with_it = _console(staff_with(perm, *([needs_view[perm]] if perm in needs_view else [])))
    state = (_role_state(world["dom"]), _role_state(PLATFORM_DOMAIN),
             list(ServiceKey.objects.order_by("pk").values_list("key_id", "revoked_at")))
    events = AuditEvent.objects.count()
    r = getattr(without, method)(url, data) if data is not None else without.get(url)
    assert r.status_code == 403 and b"Your account may not do this" in r.content
    assert (_role_state(world["dom"]), _role_state(PLATFORM_DOMAIN),
            list(ServiceKey.objects.order_by("pk").values_list("key_id", "revoked_at"))) == state
    assert AuditEvent.objects.count() == events
    with django_capture_on_commit_callbacks(execute=True):
        r = getattr(with_it, method)(url, data) if data is not None else with_it.get(url)
    assert r.status_code in (200, 302), r.content[:500]
    if method == "post":
        assert AuditEvent.objects.count() > events
        assert AuditEvent.objects.latest("pk").actor_type == "user"


def test_a_staff_member_without_change_sees_a_role_read_only(world, staff_with):
    client = _console(staff_with("authz.view_role"))
    page = client.get(f"/admin/authz/role/{world['dom']}/support/change/").content.decode()
    assert 'id="permission-list"' in page and 'id="permissions-form"' not in page
    assert 'id="grant-form"' not in page and 'id="delete-role"' not in page and "revoke-member" not in page
    listing = client.get("/admin/authz/role/").content.decode()
    assert "Add role" not in listing


# ---- the why tool -----------------------------------------------------------------------------
def test_why_shows_the_role_path_of_an_allowed_request(world, django_capture_on_commit_callbacks):
    dom, alice = world["dom"], world["alice"]
    with django_capture_on_commit_callbacks(execute=True):
        services.role_create(name="helpdesk", domain=dom, permissions=[("/faq", "read")], actor=SYSTEM)
        services.subject_role_grant(subject="helpdesk", role="support", domain=dom, actor=SYSTEM)
        carol = UserFactory(tenant=world["acme"])
        services.subject_role_grant(subject=user_subject(carol.pk), role="helpdesk", domain=dom, actor=SYSTEM,
                                    subject_user_id=carol.pk)
    r = world["client"].get("/admin/authz/why/", {"subject": str(carol.pk), "domain": dom,
                                                  "object": "/tickets/7", "action": "read"})
    page = r.content.decode()
    assert r.status_code == 200 and 'id="why-decision"' in page and "Allowed" in page
    assert f"user:{carol.pk} &rarr; helpdesk &rarr; support &rarr; (/tickets/*, read)" in page
    # a denial: the roles held there, every role reached, the near miss on the same object
    page = world["client"].get("/admin/authz/why/", {"subject": f"user:{alice.pk}", "domain": dom,
                                                     "object": "/tickets", "action": "delete"}).content.decode()
    assert "Denied" in page and "no rule matches" in page
    assert f'href="/admin/authz/role/{dom}/support/change/">support</a>' in page


def test_why_explains_a_platform_rule_that_applies_in_a_tenant(world, django_capture_on_commit_callbacks):
    staff = UserFactory(user_type="staff")
    with django_capture_on_commit_callbacks(execute=True):
        services.subject_role_grant(subject=user_subject(staff.pk), role="platform_admin", domain=PLATFORM_DOMAIN,
                                    actor=SYSTEM, subject_user_id=staff.pk)
    page = world["client"].get("/admin/authz/why/", {"subject": str(staff.pk), "domain": world["dom"],
                                                     "object": "/users/3", "action": "write"}).content.decode()
    assert "Allowed" in page
    assert f"user:{staff.pk} &rarr; platform_admin &rarr; (/*, *)" in page
    assert 'id="why-model">denied<' in page  # /v1/authz/check, by the tenant's rules alone, says no
    assert "Platform rules (they apply in every tenant)" in page


def test_why_notes_a_superuser_and_a_missing_user(world):
    page = world["client"].get("/admin/authz/why/", {"subject": str(world["root"].pk), "domain": "platform",
                                                     "object": "/x", "action": "read"}).content.decode()
    assert "is a superuser" in page and "Denied" in page
    page = world["client"].get("/admin/authz/why/", {"subject": "99999999", "domain": "platform",
                                                     "object": "/x", "action": "read"}).content.decode()
    assert "There is no user 99999999" in page


@pytest.mark.parametrize("params, error", [
    ({"subject": "nobody"}, "A user id"),
    ({"subject": ""}, "This field is required"),
    ({"domain": "tenant:999999"}, "No such tenant"),
    ({"object": ""}, "This field is required"),
    ({"object": "/" + "a" * 2000}, "at most 1024"),
    ({"action": ""}, "This field is required"),
])
def test_bad_why_input_is_a_form_error(world, params, error):
    query = {"subject": "1", "domain": "platform", "object": "/x", "action": "read", **params}
    r = world["client"].get("/admin/authz/why/", query)
    assert r.status_code == 200 and error in r.content.decode() and b'id="why-decision"' not in r.content


# ---- explain agrees with the enforcer ----------------------------------------------------------------
DOMAINS = [PLATFORM_DOMAIN, "tenant:1", "tenant:2"]
SUBJECTS = ["user:1", "user:2", "user:3", "user:4", "svc:gw", "svc:job"]
ROLES = [f"r{i}" for i in range(8)]
PATTERNS = ["/a", "/a/*", "/a/:id", "/b/:id/c", "*", "/*", "/a/b", "/c/*", "/users/:id/roles", "/x.y"]
ACTIONS_ = ["read", "write", "*", "check"]
OBJECTS = ["/a", "/a/1", "/a/b", "/b/2/c", "/c/x/y", "/d", "/users/9/roles", "/xzy", "/x.y", "/a/b/c"]


def _random_rows(rng: random.Random, n_p: int, n_g: int) -> list[tuple[str, str, str, str, str | None]]:
    rows = []
    for _ in range(n_p):
        sub = rng.choice(ROLES) if rng.random() < 0.8 else rng.choice(SUBJECTS)
        rows.append(("p", sub, rng.choice(DOMAINS), rng.choice(PATTERNS), rng.choice(ACTIONS_)))
    for _ in range(n_g):
        # users and services into roles, and roles into roles (nesting; cycles happen too)
        sub = rng.choice(SUBJECTS) if rng.random() < 0.5 else rng.choice(ROLES)
        rows.append(("g", sub, rng.choice(ROLES), rng.choice(DOMAINS), None))
    rng.shuffle(rows)
    return rows


def _check_explanation(idx: PolicyIndex, sub: str, dom: str, obj: str, act: str, answer: dict) -> None:
    in_domain = idx.enforce(sub, dom, obj, act)
    expected = in_domain or (dom != PLATFORM_DOMAIN and idx.enforce(sub, PLATFORM_DOMAIN, obj, act))
    assert answer["allowed"] is expected, (sub, dom, obj, act)
    assert answer["allowed_in_domain"] is in_domain
    for part in answer["domains"]:
        d = part["domain"]
        assert part["allowed"] is idx.enforce(sub, d, obj, act)
        assert {r["role"] for r in part["reached"]} | {sub} == set(idx.subjects_of(sub, d))
        assert part["held"] == sorted(idx.roles_of(sub, d))
        for m in part["matches"] + part["other_actions"]:
            path = m["path"]
            assert path[0] == sub and len(path) <= MAX_ROLE_DEPTH and len(set(path)) == len(path)
            for child, parent in zip(path, path[1:]):
                assert parent in idx.roles_of(child, d)  # every step is a real assignment
            assert (path[-1], m["object"], m["action"]) in idx.permissions_of(path[-1], d, implicit=False)
        for m in part["matches"]:
            # the rule alone allows the request: the path's last subject has it directly
            assert idx.enforce(m["path"][-1], d, obj, act)
            assert m["action"] in (act, "*")
        for m in part["other_actions"]:
            assert m["action"] not in (act, "*")


def test_explain_agrees_with_the_engine_on_random_policies():
    rng = random.Random(1717)
    cases = 0
    for _ in range(150):
        rows = _random_rows(rng, n_p=rng.randint(1, 40), n_g=rng.randint(0, 40))
        idx = PolicyIndex.from_rows(rows)
        for _ in range(60):
            sub = rng.choice(SUBJECTS + ROLES[:2])
            dom, obj, act = rng.choice(DOMAINS + ["tenant:3"]), rng.choice(OBJECTS), rng.choice(ACTIONS_[:2] + ["x"])
            _check_explanation(idx, sub, dom, obj, act, selectors.explain(sub, dom, obj, act, index=idx))
            cases += 1
    assert cases == 9000


def test_explain_follows_the_engines_depth_limit():
    chain = [("g", "user:1", "c0", "tenant:1", None)]
    chain += [("g", f"c{i}", f"c{i + 1}", "tenant:1", None) for i in range(MAX_ROLE_DEPTH + 2)]
    for depth in range(MAX_ROLE_DEPTH + 2):
        idx = PolicyIndex.from_rows([*chain, ("p", f"c{depth}", "tenant:1", "/deep", "read")])
        answer = selectors.explain("user:1", "tenant:1", "/deep", "read", index=idx)
        assert answer["allowed"] is idx.enforce("user:1", "tenant:1", "/deep", "read") is (depth + 2 <= MAX_ROLE_DEPTH)
        if answer["allowed"]:
            assert answer["domains"][0]["matches"][0]["path"] == ["user:1", *[f"c{i}" for i in range(depth + 1)]]


@pytest.mark.django_db
def test_explain_agrees_with_enforce_and_may_on_the_stored_policy():
    """The same through the process's enforcer, loaded from casbin_rule, against `may` (Custos's
    own checks) and `enforce` (/v1/authz/check)."""
    rng = random.Random(4242)
    CasbinRule.objects.all().delete()
    rows = _random_rows(rng, n_p=120, n_g=120)
    CasbinRule.objects.bulk_create(
        [CasbinRule(ptype=t, v0=a, v1=b, v2=c, v3=d, rule_key=rule_key(t, [a, b, c] + ([d] if d else [])))
         for t, a, b, c, d in set(rows)])
    reset_enforcer()
    allowed = 0
    for _ in range(1500):
        sub, dom = rng.choice(SUBJECTS), rng.choice(DOMAINS)
        obj, act = rng.choice(OBJECTS), rng.choice(ACTIONS_[:2])
        answer = selectors.explain(sub, dom, obj, act)
        assert answer["allowed"] is selectors.may(sub, dom, obj, act), (sub, dom, obj, act)
        assert answer["allowed_in_domain"] is enforcer().enforce(sub, dom, obj, act)
        allowed += answer["allowed"]
    assert 50 < allowed < 1450  # both answers are well represented


# ---- service keys --------------------------------------------------------------------------------
def test_service_keys_are_listed_with_their_services_roles(world, django_capture_on_commit_callbacks):
    key, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    old, _ = services.service_key_create(name="batch", actor=SYSTEM)
    services.service_key_revoke(key_id=old.key_id, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        services.subject_role_grant(subject="svc:clotho", role="gateway", domain=PLATFORM_DOMAIN, actor=SYSTEM)
        services.subject_role_grant(subject="svc:clotho", role="support", domain=world["dom"], actor=SYSTEM)
    page = world["client"].get("/admin/authz/servicekey/").content.decode()
    assert key.key_id in page and old.key_id in page
    assert f"gateway in platform, support in {world['dom']}" in page
    assert ">revoked<" in page and ">active<" in page
    active = world["client"].get("/admin/authz/servicekey/?state=active").content.decode()
    assert key.key_id in active and old.key_id not in active
    assert ServiceKey.objects.get(pk=key.pk).secret_hash not in page


def test_a_new_keys_secret_is_shown_once_with_no_store(world, caplog):
    client, root = world["client"], world["root"]
    caplog.set_level(logging.DEBUG)
    r = client.post("/admin/authz/servicekey/add/", {"name": "reporting"})
    assert r.status_code == 200
    page = r.content.decode()
    key = ServiceKey.objects.get(name="reporting")
    start = page.index('id="service-key-secret" value="') + len('id="service-key-secret" value="')
    secret = page[start:page.index('"', start)]
    key_id, _, raw = secret.partition(".")
    assert key_id == key.key_id and len(raw) >= 40
    from custos.crypto import sha256_hex

    assert sha256_hex(raw) == key.secret_hash  # the page shows the real secret...
    cache = r["Cache-Control"]
    assert "no-store" in cache and "private" in cache
    (event,) = _events("service_key.created", key_id=key.key_id)
    assert event.actor_type == "user" and event.actor_id == str(root.pk)
    # ...once: not on any later page, not in the session or its messages, not in a log line
    for url in ("/admin/authz/servicekey/", f"/admin/authz/servicekey/{key.pk}/change/",
                f"/admin/authz/servicekey/{key.pk}/revoke/", "/admin/"):
        later = client.get(url).content.decode()
        assert raw not in later and key.secret_hash not in later
    session = client.session
    assert all(raw not in str(session[k]) for k in session.keys())
    assert all(raw not in morsel.value for morsel in client.cookies.values())
    assert raw not in caplog.text
    # and it works: the service authenticates with it
    from authz.authentication import principal_from_api_key

    class _Req:
        META = {"HTTP_AUTHORIZATION": f"ApiKey {secret}"}

    assert principal_from_api_key(_Req()).name == "reporting"


def test_a_bad_service_name_is_a_form_error(world):
    for name in ("Bad Name", "x" * 49, ""):
        r = world["client"].post("/admin/authz/servicekey/add/", {"name": name})
        assert r.status_code == 200 and b"errornote" in r.content and b"service-key-secret" not in r.content
    assert not ServiceKey.objects.exists()


def test_revoking_a_key_asks_first(world):
    client, root = world["client"], world["root"]
    key, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    services.service_key_create(name="clotho", actor=SYSTEM)
    page = client.get(f"/admin/authz/servicekey/{key.pk}/revoke/")
    assert page.status_code == 200 and b"1 other active key" in page.content
    assert ServiceKey.objects.get(pk=key.pk).revoked_at is None  # showing the page changes nothing
    r = client.post(f"/admin/authz/servicekey/{key.pk}/revoke/")
    assert r.status_code == 302 and ServiceKey.objects.get(pk=key.pk).revoked_at is not None
    (event,) = _events("service_key.revoked", key_id=key.key_id)
    assert event.actor_id == str(root.pk) and event.actor_type == "user"
    again = client.post(f"/admin/authz/servicekey/{key.pk}/revoke/", follow=True)
    assert b"was already revoked" in again.content and len(_events("service_key.revoked")) == 1
    assert client.get("/admin/authz/servicekey/99999/revoke/").status_code == 404


def test_granting_and_revoking_a_services_roles(world, django_capture_on_commit_callbacks):
    client, dom, root = world["client"], world["dom"], world["root"]
    key, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    url = f"/admin/authz/servicekey/{key.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"op": "grant", "domain": PLATFORM_DOMAIN, "role": "gateway"})
    assert r.status_code == 302
    assert selectors.subject_roles("svc:clotho", PLATFORM_DOMAIN) == ["gateway"]
    (event,) = _events("role.granted", subject="svc:clotho")
    assert event.actor_id == str(root.pk)
    page = client.get(url).content.decode()
    assert 'data-domain="platform" data-role="gateway"' in page
    # bad input: an unknown role, a bad role name, an unknown tenant
    for data, error in (({"domain": dom, "role": "gateway"}, "No such role in this domain"),
                        ({"domain": dom, "role": "Not A Role"}, "lower-case letters"),
                        ({"domain": "tenant:999999", "role": "support"}, "No such tenant")):
        r = client.post(url, {"op": "grant", **data})
        assert r.status_code == 200 and error in r.content.decode(), data
    assert selectors.subject_roles("svc:clotho", dom) == []
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"op": "revoke_role", "domain": PLATFORM_DOMAIN, "role": "gateway"})
    assert r.status_code == 302 and selectors.subject_roles("svc:clotho", PLATFORM_DOMAIN) == []
    assert _events("role.revoked", subject="svc:clotho")[0].actor_id == str(root.pk)


def test_service_keys_cannot_be_edited_or_deleted(world):
    key, _ = services.service_key_create(name="clotho", actor=SYSTEM)
    client = world["client"]
    assert client.post(f"/admin/authz/servicekey/{key.pk}/delete/").status_code == 403
    page = client.get(f"/admin/authz/servicekey/{key.pk}/change/").content.decode()
    facts = page[page.index('<table class="key-facts">'):]
    assert "<input" not in facts[:facts.index("</table>")]  # what a key is, read-only
    assert ServiceKey.objects.get(pk=key.pk).secret_hash not in page
    assert ServiceKey.objects.filter(pk=key.pk, revoked_at__isnull=True).exists()
