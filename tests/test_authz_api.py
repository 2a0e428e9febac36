"""Roles, permissions, assignments and checks through the API, as tenant admins, staff and
services use them."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.services import tenant_create
from audit.models import AuditEvent
from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(api, signing_key):
    """Two tenants, each with an admin and a member; a platform admin; a bystander."""
    from authz.services import platform_roles_seed

    platform_roles_seed()
    t1 = tenant_create(name="acme", actor=Actor.system("test"))
    t2 = tenant_create(name="globex", actor=Actor.system("test"))
    admin1, member1 = UserFactory(tenant=t1), UserFactory(tenant=t1)
    admin2 = UserFactory(tenant=t2)
    staff = UserFactory(user_type="staff")
    grant(admin1, "tenant_admin", t1.pk)
    grant(admin2, "tenant_admin", t2.pk)
    grant(staff, "platform_admin")
    tok = {name: login(api, u.username)["access_token"] for name, u in
           {"admin1": admin1, "member1": member1, "admin2": admin2, "staff": staff}.items()}
    return {"t1": t1, "t2": t2, "admin1": admin1, "member1": member1, "admin2": admin2, "staff": staff, "tok": tok}


def test_tenant_admin_manages_roles_in_own_tenant_only(api, world):
    t1, t2, tok = world["t1"], world["t2"], world["tok"]
    body = {"name": "order_clerk", "tenant": t1.pk,
            "permissions": [{"object": "/orders/:id", "action": "read"}, {"object": "/orders", "action": "write"}]}
    r = api.post("/v1/authz/roles", body, format="json", **bearer(tok["admin1"]))
    assert r.status_code == 201, r.content
    assert r.json()["tenant"] == f"tenant:{t1.pk}"
    # the same name again is a conflict
    r = api.post("/v1/authz/roles", body, format="json", **bearer(tok["admin1"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "role_exists"
    # another tenant's admin cannot touch it, nor create roles there
    r = api.post("/v1/authz/roles", {**body, "name": "x"}, format="json", **bearer(tok["admin2"]))
    assert r.status_code == 403
    r = api.get(f"/v1/authz/roles?tenant={t1.pk}", **bearer(tok["admin2"]))
    assert r.status_code == 403
    # a plain member cannot either: deny by default
    r = api.get(f"/v1/authz/roles?tenant={t1.pk}", **bearer(tok["member1"]))
    assert r.status_code == 403
    # platform staff can, in any tenant
    r = api.get(f"/v1/authz/roles?tenant={t1.pk}", **bearer(tok["staff"]))
    names = {role["name"] for role in r.json()["results"]}
    assert {"order_clerk", "tenant_admin", "auditor"} <= names
    r = api.get(f"/v1/authz/roles?tenant={t2.pk}", **bearer(tok["admin2"]))
    assert "order_clerk" not in {role["name"] for role in r.json()["results"]}


def test_assign_check_replace_and_delete(api, world):
    t1, tok, member1 = world["t1"], world["tok"], world["member1"]
    api.post("/v1/authz/roles", {"name": "clerk", "tenant": t1.pk,
                                 "permissions": [{"object": "/orders/:id", "action": "read"}]},
             format="json", **bearer(tok["admin1"]))

    def can(obj: str, act: str) -> bool:
        r = api.post("/v1/authz/check", {"tenant": t1.pk, "object": obj, "action": act}, format="json",
                     **bearer(tok["member1"]))
        assert r.status_code == 200, r.content
        return r.json()["allowed"]

    assert can("/orders/7", "read") is False  # deny by default
    r = api.post(f"/v1/authz/users/{member1.pk}/roles?tenant={t1.pk}", {"role": "clerk"}, format="json",
                 **bearer(tok["admin1"]))
    assert r.status_code == 201 and r.json()["roles"] == ["clerk"]
    # a role change stops the tokens issued before it (tests/test_role_changes.py): sign in again
    tok["member1"] = login(api, member1.username)["access_token"]
    assert can("/orders/7", "read") is True
    assert can("/orders/7", "write") is False
    assert can("/orders", "read") is False

    # replace atomically: read goes, write comes
    r = api.put(f"/v1/authz/roles/clerk/permissions?tenant={t1.pk}",
                {"permissions": [{"object": "/orders/:id", "action": "write"}]}, format="json",
                **bearer(tok["admin1"]))
    assert r.status_code == 200 and r.json()["permissions"] == [{"object": "/orders/:id", "action": "write"}]
    assert can("/orders/7", "read") is False and can("/orders/7", "write") is True
    ev = AuditEvent.objects.filter(action="policy.changed", metadata__change="role_permissions_replaced").get()
    assert ev.metadata["before"] == [["/orders/:id", "read"]] and ev.metadata["after"] == [["/orders/:id", "write"]]
    assert ev.actor_id == str(world["admin1"].pk)

    r = api.get("/v1/authz/me/permissions", **bearer(tok["member1"]))
    assert r.json()["roles"] == ["clerk"]
    assert r.json()["permissions"] == [{"object": "/orders/:id", "action": "write", "via": "clerk"}]

    # deleting the role removes its assignments
    assert api.delete(f"/v1/authz/roles/clerk?tenant={t1.pk}", **bearer(tok["admin1"])).status_code == 204
    r = api.get(f"/v1/authz/users/{member1.pk}/roles?tenant={t1.pk}", **bearer(tok["admin1"]))
    assert r.json()["roles"] == []
    tok["member1"] = login(api, member1.username)["access_token"]  # the deletion stopped the older one
    assert can("/orders/7", "write") is False
    assert AuditEvent.objects.filter(action="policy.changed", metadata__change="role_deleted").exists()


def test_grants_are_audited_and_cannot_cross_tenants(api, world):
    t1, t2, tok = world["t1"], world["t2"], world["tok"]
    member1 = world["member1"]
    r = api.post(f"/v1/authz/users/{member1.pk}/roles?tenant={t1.pk}", {"role": "auditor"}, format="json",
                 **bearer(tok["admin1"]))
    assert r.status_code == 201
    ev = AuditEvent.objects.get(action="role.granted", subject_user_id=member1.pk)
    assert ev.metadata["role"] == "auditor" and ev.tenant_id == t1.pk and ev.actor_id == str(world["admin1"].pk)
    # a user of tenant 1 cannot be given a role in tenant 2, even by staff
    r = api.post(f"/v1/authz/users/{member1.pk}/roles?tenant={t2.pk}", {"role": "auditor"}, format="json",
                 **bearer(tok["staff"]))
    assert r.status_code == 409 and r.json()["error"]["code"] == "user_not_in_tenant"
    r = api.post(f"/v1/authz/users/{member1.pk}/roles?tenant={t1.pk}", {"role": "ghost"}, format="json",
                 **bearer(tok["admin1"]))
    assert r.status_code == 404
    r = api.delete(f"/v1/authz/users/{member1.pk}/roles/auditor?tenant={t1.pk}", **bearer(tok["admin1"]))
    assert r.status_code == 204
    assert AuditEvent.objects.filter(action="role.revoked", subject_user_id=member1.pk).exists()


def test_roles_in_token_are_those_of_its_tenant(api, world):
    import jwt

    r = login(api, world["admin1"].username)
    claims = jwt.decode(r["access_token"], options={"verify_signature": False})
    assert claims["tid"] == world["t1"].pk and claims["roles"] == ["tenant_admin"]
    staff_claims = jwt.decode(login(api, world["staff"].username)["access_token"], options={"verify_signature": False})
    assert staff_claims["tid"] is None and staff_claims["roles"] == ["platform_admin"]


def test_checking_others_needs_permission(api, world):
    t1, tok = world["t1"], world["tok"]
    r = api.post("/v1/authz/check", {"subject": world["admin1"].pk, "tenant": t1.pk, "object": "/users",
                                     "action": "read"}, format="json", **bearer(tok["member1"]))
    assert r.status_code == 403
    r = api.post("/v1/authz/check", {"subject": world["member1"].pk, "tenant": t1.pk, "object": "/users",
                                     "action": "read"}, format="json", **bearer(tok["staff"]))
    assert r.status_code == 200 and r.json() == {"allowed": False}


def test_batch_check_limits_and_order(api, world):
    t1, tok = world["t1"], world["tok"]
    checks = [{"tenant": t1.pk, "object": "/users", "action": "read"},
              {"tenant": t1.pk, "object": "/nothing", "action": "read"}] * 50
    r = api.post("/v1/authz/check-batch", {"checks": checks}, format="json", **bearer(tok["admin1"]))
    assert r.status_code == 200 and r.json()["results"] == [True, False] * 50
    r = api.post("/v1/authz/check-batch", {"checks": checks * 11}, format="json", **bearer(tok["admin1"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    for bad in ([], "x", [1], [{"tenant": "acme", "object": "/x", "action": "read"}],
                [{"tenant": 1, "object": 5, "action": "read"}], [{"object": "/x", "action": "read"}]):
        r = api.post("/v1/authz/check-batch", {"checks": bad}, format="json", **bearer(tok["admin1"]))
        assert r.status_code == 400, bad


def test_bad_role_input(api, world):
    t1, tok = world["t1"], world["tok"]
    for body in ({"name": "Bad Name", "tenant": t1.pk, "permissions": []},
                 {"name": "ok", "tenant": t1.pk, "permissions": [{"object": "no-slash", "action": "read"}]},
                 {"name": "ok", "tenant": t1.pk, "permissions": [{"object": "/a, b", "action": "read"}]},
                 {"name": "ok", "tenant": t1.pk, "permissions": [{"object": "/a", "action": "READ ALL"}]},
                 {"name": "ok", "tenant": t1.pk, "permissions": "all"},
                 {"name": "ok", "permissions": []}):
        r = api.post("/v1/authz/roles", body, format="json", **bearer(tok["admin1"]))
        assert r.status_code == 400, body
    assert not AuditEvent.objects.filter(action="policy.changed", metadata__role="ok").exists()


def test_service_keys(api, world):
    out = StringIO()
    call_command("create_service_key", "clotho", stdout=out)
    credential = re.search(r"ApiKey (\S+)", out.getvalue()).group(1)
    key_id, secret = credential.split(".")
    from authz.models import ServiceKey

    row = ServiceKey.objects.get(key_id=key_id)
    assert secret not in row.secret_hash and len(row.secret_hash) == 64
    headers = {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}
    t1 = world["t1"]
    check = {"subject": world["admin1"].pk, "tenant": t1.pk, "object": "/users", "action": "read"}
    # a service may do nothing until policy says so
    assert api.post("/v1/authz/check", check, format="json", **headers).status_code == 403
    from authz.services import role_create, subject_role_grant

    role_create(name="checker", domain="platform", permissions=[("/authz/check", "check")],
                actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="checker", domain="platform", actor=Actor.system("test"))
    r = api.post("/v1/authz/check", check, format="json", **headers)
    assert r.status_code == 200 and r.json() == {"allowed": True}
    # services have no "me"
    assert api.get("/v1/users/me", **headers).status_code in (401, 403)
    # a wrong secret and a revoked key are refused
    bad = {"HTTP_AUTHORIZATION": f"ApiKey {key_id}.{'x' * len(secret)}"}
    assert api.post("/v1/authz/check", check, format="json", **bad).status_code == 401
    call_command("revoke_service_key", key_id, stdout=StringIO())
    from authz.authentication import forget_cached_keys

    forget_cached_keys()
    assert api.post("/v1/authz/check", check, format="json", **headers).status_code == 401
    dump = str(list(AuditEvent.objects.values()))
    assert secret not in dump


def test_force_logout_by_a_service_and_by_a_tenant_admin(api, world):
    from authz.services import role_create, service_key_create, subject_role_grant

    key, credential = service_key_create(name="ops", actor=Actor.system("test"))
    role_create(name="session_killer", domain="platform", permissions=[("/sessions", "write")],
                actor=Actor.system("test"))
    subject_role_grant(subject="svc:ops", role="session_killer", domain="platform", actor=Actor.system("test"))
    member = world["member1"]
    pair = login(api, member.username)
    r = api.post("/v1/auth/force-logout", {"user_id": member.pk}, format="json",
                 HTTP_AUTHORIZATION=f"ApiKey {credential}")
    assert r.status_code == 200 and r.json()["revoked_sessions"] >= 1
    ev = AuditEvent.objects.filter(action="user.forced_logout").latest("id")
    assert ev.actor_type == "service" and ev.actor_id == "ops"
    # tenant admins kick users of their own tenant, not of others
    pair = login(api, member.username)
    r = api.post("/v1/auth/force-logout", {"session_id": pair["session_id"]}, format="json",
                 **bearer(world["tok"]["admin2"]))
    assert r.status_code == 403
    r = api.post("/v1/auth/force-logout", {"session_id": pair["session_id"]}, format="json",
                 **bearer(world["tok"]["admin1"]))
    assert r.status_code == 200 and r.json() == {"revoked_sessions": 1}


def test_export_import_round_trip(world, tmp_path):
    from authz.enforcer import enforcer
    from authz.models import CasbinRule

    path = tmp_path / "policy.csv"
    call_command("casbin_export", "-o", str(path), stderr=StringIO())
    text = path.read_text()
    assert f"g,user:{world['admin1'].pk},tenant_admin,tenant:{world['t1'].pk}" in text
    before = sorted(str(r) for r in CasbinRule.objects.all())
    CasbinRule.objects.all().delete()
    out = StringIO()
    call_command("casbin_import", str(path), stdout=out)
    assert sorted(str(r) for r in CasbinRule.objects.all()) == before
    assert enforcer().enforce(f"user:{world['admin1'].pk}", f"tenant:{world['t1'].pk}", "/users", "read")
    # importing again adds nothing; a malformed line writes nothing
    call_command("casbin_import", str(path), stdout=out)
    assert CasbinRule.objects.count() == len(before)
    bad = tmp_path / "bad.csv"
    bad.write_text("p, r, tenant:1, /x, read\np, only, three\n")
    with pytest.raises(Exception, match="line 2"):
        call_command("casbin_import", str(bad), stdout=out)
    assert CasbinRule.objects.count() == len(before)


def test_admin_permissions_come_from_casbin(world):
    from authz.services import role_create, subject_role_grant

    staff = UserFactory(user_type="staff")
    assert not staff.has_perm("accounts.view_user") and not staff.has_module_perms("accounts")
    role_create(name="support", domain="platform", permissions=[("/admin/accounts/user", "view")],
                actor=Actor.system("test"))
    subject_role_grant(subject=f"user:{staff.pk}", role="support", domain="platform", actor=Actor.system("test"))
    staff.refresh_from_db()
    assert staff.has_perm("accounts.view_user")
    assert not staff.has_perm("accounts.change_user")
    assert staff.has_module_perms("accounts") and not staff.has_module_perms("keys")
    # a customer with the same role still has no admin rights
    customer = UserFactory()
    subject_role_grant(subject=f"user:{customer.pk}", role="support", domain="platform", actor=Actor.system("test"))
    assert not customer.has_perm("accounts.view_user")


def _answer(r) -> tuple[int, dict]:
    body = r.json() if r.content else {}
    return r.status_code, {k: v for k, v in body.items() if k != "request_id"}


def test_another_tenants_user_is_answered_like_no_user(api, world):
    """Issue 14: a tenant-A admin asking about a tenant-B user in tenant A got 200 {"roles": []}
    while an unknown id got 404, so every tenant admin could tell which ids exist anywhere.
    Every /v1/authz/users/{id}/... and /v1/admin/users/{id}... answer is now the same for both."""
    t1, tok = world["t1"], world["tok"]["admin1"]
    other, missing = world["admin2"].pk, 10 ** 12
    requests = [
        ("get", "/v1/authz/users/{}/roles?tenant=" + str(t1.pk), None),
        ("post", "/v1/authz/users/{}/roles?tenant=" + str(t1.pk), {"role": "auditor"}),
        ("delete", "/v1/authz/users/{}/roles/auditor?tenant=" + str(t1.pk), None),
        ("delete", "/v1/authz/users/{}/roles/tenant_admin?tenant=" + str(t1.pk), None),
        ("get", "/v1/admin/users/{}", None),
        ("patch", "/v1/admin/users/{}", {"email": "x@example.com"}),
        ("get", "/v1/admin/users/{}/logins", None),
        ("post", "/v1/admin/users/{}/mfa/reset", {}),
        *[("post", "/v1/admin/users/{}/" + action, {}) for action in ("freeze", "activate", "unlock", "delete")],
    ]
    before = AuditEvent.objects.filter(subject_user_id=other).count()
    for method, path, body in requests:
        kwargs = {"data": body, "format": "json"} if body is not None else {}
        seen = _answer(getattr(api, method)(path.format(other), **kwargs, **bearer(tok)))
        unseen = _answer(getattr(api, method)(path.format(missing), **kwargs, **bearer(tok)))
        assert seen == unseen, (method, path, seen, unseen)
        assert seen[0] == 404, (method, path, seen)
    # nothing happened to the other tenant's admin
    assert AuditEvent.objects.filter(subject_user_id=other).count() == before
    # the caller's own tenant is answered as before, and asking about oneself needs no permission
    r = api.get(f"/v1/authz/users/{world['member1'].pk}/roles?tenant={t1.pk}", **bearer(tok))
    assert r.status_code == 200 and r.json()["roles"] == []
    r = api.get(f"/v1/authz/users/{world['member1'].pk}/roles?tenant={world['t2'].pk}",
                **bearer(world["tok"]["member1"]))
    assert r.status_code == 200 and r.json()["roles"] == []
    # platform staff see every tenant's users: for them the difference is no secret
    r = api.get(f"/v1/authz/users/{other}/roles?tenant={t1.pk}", **bearer(world["tok"]["staff"]))
    assert r.status_code == 200 and r.json()["roles"] == []
    r = api.get(f"/v1/authz/users/{missing}/roles?tenant={t1.pk}", **bearer(world["tok"]["staff"]))
    assert r.status_code == 404


def test_check_answers_the_model_without_widening_platform_rules(api, world):
    """docs/authz.md: platform rules reach into tenants only for Custos's own endpoints
    (authz.selectors.may); /v1/authz/check and check-batch answer exactly the model."""
    from authz.services import role_create, subject_role_grant

    t1, staff = world["t1"], world["staff"]
    role_create(name="order_reader", domain="platform", permissions=[("/orders/*", "read")],
                actor=Actor.system("test"))
    subject_role_grant(subject=f"user:{staff.pk}", role="order_reader", domain="platform",
                       actor=Actor.system("test"))
    tok = login(api, staff.username)["access_token"]  # the grant stopped the token issued before it

    def check(tenant) -> bool:
        r = api.post("/v1/authz/check", {"tenant": tenant, "object": "/orders/1", "action": "read"}, format="json",
                     **bearer(tok))
        assert r.status_code == 200, r.content
        return r.json()["allowed"]

    assert check("platform") is True
    assert check(t1.pk) is False  # the platform rule is not a tenant rule
    r = api.post("/v1/authz/check-batch", {"checks": [
        {"tenant": "platform", "object": "/orders/1", "action": "read"},
        {"tenant": t1.pk, "object": "/orders/1", "action": "read"},
        {"subject": world["member1"].pk, "tenant": t1.pk, "object": "/users", "action": "read"}]},
        format="json", **bearer(tok))
    assert r.status_code == 200 and r.json()["results"] == [True, False, False]
    # while Custos's own endpoints do let platform staff act in the tenant
    assert api.get(f"/v1/authz/roles?tenant={t1.pk}", **bearer(tok)).status_code == 200
