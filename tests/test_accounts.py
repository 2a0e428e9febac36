"""Accounts: lifecycle, profile, contact changes, passwords, re-auth, B-end admin, tenants."""
from __future__ import annotations

import re

import pytest

from accounts.models import PasswordResetToken, User
from audit.models import AuditEvent
from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
NEW_PW = "a brand new passphrase"


@pytest.fixture(autouse=True)
def _memory_sms(settings):
    from accounts.sms import MemorySmsBackend

    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "SMS_BACKEND": "accounts.sms.MemorySmsBackend"}
    MemorySmsBackend.outbox.clear()


def _code(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)


def _reauth(api, token: str, password: str = PASSWORD) -> dict:
    r = api.post("/v1/auth/reauth", {"password": password}, format="json", **bearer(token))
    assert r.status_code == 200, r.content
    return {"HTTP_X_REAUTH_TOKEN": r.json()["reauth_token"]}


# ---- lifecycle ------------------------------------------------------------------------------
@pytest.fixture
def staff(api, signing_key):
    user = UserFactory(user_type="staff")
    grant(user, "platform_admin")
    return user, login(api, user.username)["access_token"]


def test_freeze_activate_lock_unlock_delete(api, staff):
    _, tok = staff
    user = UserFactory()
    pair = login(api, user.username)

    def act(action: str, **body):
        return api.post(f"/v1/admin/users/{user.pk}/{action}", body, format="json", **bearer(tok))

    r = act("freeze", reason="chargeback")
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401  # kicked at once
    assert api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401
    r = api.post("/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    r = act("freeze")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_freeze_disabled"
    assert act("unlock").json()["error"]["code"] == "cannot_unlock_disabled"
    assert act("activate").json()["status"] == "active"
    login(api, user.username)
    assert act("lock").json()["status"] == "locked"
    assert act("unlock").json()["status"] == "active"
    assert act("delete").json()["status"] == "deleted"
    assert act("activate").status_code == 409
    ev = AuditEvent.objects.get(action="user.frozen", subject_user_id=user.pk)
    assert ev.actor_id == str(staff[0].pk) and ev.metadata == {"before": "active", "after": "disabled",
                                                               "reason": "chargeback"}
    for action in ("user.activated", "user.locked", "user.unlocked", "user.deleted"):
        assert AuditEvent.objects.filter(action=action, subject_user_id=user.pk).exists(), action


def test_delete_scrubs_and_retention_frees_identifiers(api, staff, settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import UserProfile
    from accounts.tasks import purge_deleted_identifiers
    from federation.models import UserOAuth

    user = UserFactory(email="gone@example.com")
    UserProfile.objects.filter(user=user).update(nickname="Gone", birthday="1990-01-01", extra={"a": 1})
    UserOAuth.objects.create(user=user, provider="github", provider_uid="42")
    pair = login(api, user.username)
    r = api.delete("/v1/users/me", **bearer(pair["access_token"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauth_required"
    r = api.delete("/v1/users/me", **bearer(pair["access_token"]), **_reauth(api, pair["access_token"]))
    assert r.status_code == 204
    user.refresh_from_db()
    profile = UserProfile.objects.get(user=user)
    assert user.status == "deleted" and not user.has_usable_password() and user.deleted_at
    assert profile.nickname is None and profile.birthday is None and profile.extra is None
    assert not UserOAuth.objects.filter(user=user).exists()
    # the identifier stays reserved during retention
    r = api.post("/v1/auth/register", {"username": "other", "email": "gone@example.com", "password": NEW_PW},
                 format="json")
    assert r.status_code == 409
    User.objects.filter(pk=user.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert purge_deleted_identifiers.delay().get() == 1
    user.refresh_from_db()
    assert user.username is None and user.email is None
    r = api.post("/v1/auth/register", {"username": "other", "email": "gone@example.com", "password": NEW_PW},
                 format="json")
    assert r.status_code == 201
    assert AuditEvent.objects.filter(action="user.deleted", subject_user_id=user.pk).exists()


# ---- profile and contacts -------------------------------------------------------------------
def test_profile_patch_validation(api, user, signing_key):
    tok = login(api, user.username)["access_token"]
    ok = {"nickname": "Ally", "avatar": "https://cdn.example.com/a.png", "gender": "female",
          "birthday": "1990-02-28", "extra": {"lang": "en", "tags": ["a", "b"]}}
    r = api.patch("/v1/users/me", ok, format="json", **bearer(tok))
    assert r.status_code == 200, r.content
    assert r.json()["profile"] == ok
    for bad in ({"avatar": "javascript:alert(1)"}, {"avatar": "https://x/" + "a" * 300}, {"gender": "x"},
                {"birthday": "2999-01-01"}, {"birthday": "1990-02-30"}, {"birthday": 19900101},
                {"extra": [1, 2]}, {"extra": {"a": "x" * 9000}}, {"extra": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
                {"status": "active"}, {"tenant_id": 3}, {"user_type": "staff"}, {"token_version": 9},
                {"roles": ["platform_admin"]}, {"nickname": 5}):
        r = api.patch("/v1/users/me", bad, format="json", **bearer(tok))
        assert r.status_code == 400, bad
    me = api.get("/v1/users/me", **bearer(tok)).json()
    assert me["profile"] == ok and me["status"] == "active" and me["user_type"] == "customer"
    assert AuditEvent.objects.filter(action="user.profile_updated", subject_user_id=user.pk).count() == 1


def test_email_change_by_code_notifies_old_address(api, user, signing_key, mailoutbox):
    tok = login(api, user.username)["access_token"]
    old = user.email
    r = api.post("/v1/users/me/email", {"email": "new@Example.com"}, format="json", **bearer(tok))
    assert r.status_code == 403  # needs re-auth
    r = api.post("/v1/users/me/email", {"email": "new@Example.com"}, format="json", **bearer(tok),
                 **_reauth(api, tok))
    assert r.status_code == 202
    assert mailoutbox[-1].to == ["new@example.com"]
    code = _code(mailoutbox[-1].body)
    r = api.post("/v1/users/me/email/verify", {"email": "new@example.com", "code": "000000" if code != "000000"
                                               else "111111"}, format="json", **bearer(tok))
    assert r.status_code == 401 and r.json()["error"]["code"] == "otp_invalid"
    r = api.post("/v1/users/me/email/verify", {"email": "new@example.com", "code": code}, format="json",
                 **bearer(tok))
    assert r.status_code == 200 and r.json()["email"] == "new@example.com"
    assert mailoutbox[-1].to == [old] and "n***@example.com" in mailoutbox[-1].body
    # the code was single use
    r = api.post("/v1/users/me/email/verify", {"email": "new@example.com", "code": code}, format="json",
                 **bearer(tok))
    assert r.status_code == 401
    dump = str(list(AuditEvent.objects.values()))
    assert code not in dump


def test_phone_change_by_sms(api, user, signing_key):
    from accounts.sms import MemorySmsBackend

    tok = login(api, user.username)["access_token"]
    r = api.post("/v1/users/me/phone", {"phone": "+1 650 253 0000"}, format="json", **bearer(tok),
                 **_reauth(api, tok))
    assert r.status_code == 202
    to, text = MemorySmsBackend.outbox[-1]
    assert to == "+16502530000"
    r = api.post("/v1/users/me/phone/verify", {"phone": "+16502530000", "code": _code(text)}, format="json",
                 **bearer(tok))
    assert r.status_code == 200 and r.json()["phone"] == "+16502530000"


# ---- passwords ------------------------------------------------------------------------------
def test_password_change_ends_other_sessions(api, user, signing_key):
    a, b = login(api, user.username), login(api, user.username)
    r = api.post("/v1/auth/password/change", {"current_password": "wrong", "new_password": NEW_PW}, format="json",
                 **bearer(a["access_token"]))
    assert r.status_code == 400 and "current_password" in r.json()["error"]["fields"]
    r = api.post("/v1/auth/password/change", {"current_password": PASSWORD, "new_password": "12345678"},
                 format="json", **bearer(a["access_token"]))
    assert r.status_code == 400 and "password_too_common" in r.json()["error"]["reasons"]
    r = api.post("/v1/auth/password/change", {"current_password": PASSWORD, "new_password": NEW_PW},
                 format="json", **bearer(a["access_token"]))
    assert r.status_code == 204
    assert api.get("/v1/users/me", **bearer(a["access_token"])).status_code == 200
    assert api.get("/v1/users/me", **bearer(b["access_token"])).status_code == 401
    login(api, user.username, NEW_PW)


def test_password_reset_flow(api, user, signing_key, mailoutbox):
    pair = login(api, user.username)
    known = api.post("/v1/auth/password/reset/request", {"identifier": user.email}, format="json")
    unknown = api.post("/v1/auth/password/reset/request", {"identifier": "nobody@example.com"}, format="json")
    garbage = api.post("/v1/auth/password/reset/request", {"identifier": 12}, format="json")
    assert known.status_code == unknown.status_code == garbage.status_code == 202
    assert known.json() == unknown.json() == garbage.json()
    assert len(mailoutbox) == 1
    first = re.search(r"token=(\S+)", mailoutbox[0].body).group(1)
    api.post("/v1/auth/password/reset/request", {"identifier": user.username}, format="json")
    second = re.search(r"token=(\S+)", mailoutbox[1].body).group(1)
    # the newest link voids the older one
    r = api.post("/v1/auth/password/reset/confirm", {"token": first, "new_password": NEW_PW}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "reset_token_invalid"
    r = api.post("/v1/auth/password/reset/confirm", {"token": second, "new_password": "password"}, format="json")
    assert r.status_code == 400 and "password_too_common" in r.json()["error"]["reasons"]
    r = api.post("/v1/auth/password/reset/confirm", {"token": second, "new_password": NEW_PW}, format="json")
    assert r.status_code == 204 and r.content == b""
    assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401  # every session ended
    assert api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401
    r = api.post("/v1/auth/password/reset/confirm", {"token": second, "new_password": NEW_PW + "!"}, format="json")
    assert r.status_code == 400  # single use
    login(api, user.username, NEW_PW)
    # only hashes are stored: each mailed token's row holds its SHA-256, and no column holds the token
    from custos.crypto import sha256_hex

    rows = list(PasswordResetToken.objects.filter(user=user).values())
    assert sorted(r["token_hash"] for r in rows) == sorted([sha256_hex(first), sha256_hex(second)])
    assert first not in str(rows) and second not in str(rows)
    dump = str(list(AuditEvent.objects.values()))
    assert second not in dump and first not in dump


def test_reset_token_expires(api, user, signing_key, mailoutbox):
    from datetime import timedelta

    from django.utils import timezone

    api.post("/v1/auth/password/reset/request", {"identifier": user.email}, format="json")
    token = re.search(r"token=(\S+)", mailoutbox[0].body).group(1)
    PasswordResetToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    r = api.post("/v1/auth/password/reset/confirm", {"token": token, "new_password": NEW_PW}, format="json")
    assert r.status_code == 400


def test_reauth(api, user, signing_key):
    tok = login(api, user.username)["access_token"]
    r = api.post("/v1/auth/reauth", {"password": "nope"}, format="json", **bearer(tok))
    assert r.status_code == 401
    headers = _reauth(api, tok)
    other = login(api, user.username)["access_token"]
    # bound to the session it was made in
    r = api.post("/v1/users/me/email", {"email": "z@example.com"}, format="json", **bearer(other), **headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauth_required"


# ---- B-end ----------------------------------------------------------------------------------
def test_admin_create_with_invite_and_roles(api, signing_key, mailoutbox):
    from accounts.services import tenant_create

    tenant = tenant_create(name="acme", actor=Actor.system("test"))
    admin = UserFactory(tenant=tenant)
    grant(admin, "tenant_admin", tenant.pk)
    tok = login(api, admin.username)["access_token"]
    r = api.post("/v1/admin/users", {"username": "newbie", "email": "newbie@acme.example", "invite": True,
                                     "roles": ["auditor"]}, format="json", **bearer(tok))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["tenant_id"] == tenant.pk and body["email_verified"] is False
    new = User.objects.get(pk=body["id"])
    assert not new.has_usable_password()
    token = re.search(r"token=(\S+)", mailoutbox[-1].body).group(1)
    assert api.post("/v1/auth/password/reset/confirm", {"token": token, "new_password": NEW_PW},
                    format="json").status_code == 204
    pair = login(api, "newbie", NEW_PW)
    import jwt

    assert jwt.decode(pair["access_token"], options={"verify_signature": False})["roles"] == ["auditor"]
    new.refresh_from_db()
    assert new.email_verified_at is not None
    # a bad role name rolls the whole creation back
    r = api.post("/v1/admin/users", {"username": "ghosty", "password": NEW_PW, "roles": ["no_such_role"]},
                 format="json", **bearer(tok))
    assert r.status_code == 404 and not User.objects.filter(username="ghosty").exists()


def test_tenant_admins_see_only_their_tenant(api, signing_key):
    from accounts.services import tenant_create

    t1, t2 = (tenant_create(name=n, actor=Actor.system("t")) for n in ("one", "two"))
    a1 = UserFactory(tenant=t1)
    grant(a1, "tenant_admin", t1.pk)
    mine, theirs = UserFactory(tenant=t1), UserFactory(tenant=t2)
    tok = login(api, a1.username)["access_token"]
    ids = {u["id"] for u in api.get("/v1/admin/users", **bearer(tok)).json()["results"]}
    assert ids == {a1.pk, mine.pk}
    assert api.get(f"/v1/admin/users/{theirs.pk}", **bearer(tok)).status_code == 404
    assert api.post(f"/v1/admin/users/{theirs.pk}/freeze", {}, format="json", **bearer(tok)).status_code == 404
    assert api.post(f"/v1/admin/users/{mine.pk}/freeze", {}, format="json", **bearer(tok)).status_code == 200
    r = api.post("/v1/admin/users", {"username": "sneaky", "password": NEW_PW, "tenant_id": t2.pk},
                 format="json", **bearer(tok))
    assert r.status_code == 403
    member = login(api, mine.username if False else UserFactory(tenant=t1).username)["access_token"]
    assert api.get("/v1/admin/users", **bearer(member)).status_code == 403
    assert [t["id"] for t in api.get("/v1/admin/tenants", **bearer(tok)).json()["results"]] == [t1.pk]


def test_admin_list_filters_search_pagination_and_query_count(api, staff, django_assert_max_num_queries):
    _, tok = staff
    tenant = TenantFactory()
    for i in range(25):
        UserFactory(username=f"zed{i:02d}", tenant=tenant, status="disabled" if i % 5 == 0 else "active")
    seen, cursor = [], None
    while True:
        url = f"/v1/admin/users?tenant_id={tenant.pk}&limit=10" + (f"&cursor={cursor}" if cursor else "")
        with django_assert_max_num_queries(12):  # constant per page, whatever the page size
            body = api.get(url, **bearer(tok)).json()
        seen += [u["id"] for u in body["results"]]
        cursor = body["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 25 and seen == sorted(seen, reverse=True)
    r = api.get(f"/v1/admin/users?tenant_id={tenant.pk}&status=disabled", **bearer(tok)).json()
    assert len(r["results"]) == 5
    r = api.get("/v1/admin/users?q=zed1", **bearer(tok)).json()
    assert {u["username"] for u in r["results"]} == {f"zed1{i}" for i in range(10)}
    for bad in ("status=nope", "limit=0", "limit=201", "cursor=%%%", "tenant_id=x", "user_type=robot"):
        assert api.get(f"/v1/admin/users?{bad}", **bearer(tok)).status_code == 400, bad


def test_admin_list_query_count_does_not_grow_with_rows(api, staff, django_assert_num_queries):
    _, tok = staff
    tenant = TenantFactory()
    for _ in range(3):
        UserFactory(tenant=tenant)
    api.get(f"/v1/admin/users?tenant_id={tenant.pk}", **bearer(tok))  # warm caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        api.get(f"/v1/admin/users?tenant_id={tenant.pk}", **bearer(tok))
    for _ in range(30):
        UserFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as many:
        body = api.get(f"/v1/admin/users?tenant_id={tenant.pk}", **bearer(tok)).json()
    assert len(body["results"]) == 33

    def page_queries(ctx) -> list[str]:
        # the per-process feeds (revocations, policy changes) are polled on a timer, not per row
        return [q["sql"] for q in ctx.captured_queries
                if "revocations" not in q["sql"] and "authz_policy_changes" not in q["sql"]]

    assert len(page_queries(many)) == len(page_queries(few)) == 1


def test_admin_patch(api, staff):
    _, tok = staff
    user = UserFactory()
    r = api.patch(f"/v1/admin/users/{user.pk}", {"email": "Fixed@Example.com", "user_type": "partner"},
                  format="json", **bearer(tok))
    assert r.status_code == 200 and r.json()["email"] == "Fixed@example.com" and r.json()["user_type"] == "partner"
    assert r.json()["email_verified"] is False
    for bad in ({"status": "active"}, {"tenant_id": 1}, {"user_type": "god"}, {"email": "nope"}):
        assert api.patch(f"/v1/admin/users/{user.pk}", bad, format="json", **bearer(tok)).status_code == 400, bad


def test_tenants(api, staff):
    _, tok = staff
    r = api.post("/v1/admin/tenants", {"name": "Initech"}, format="json", **bearer(tok))
    assert r.status_code == 201
    tid = r.json()["id"]
    assert api.post("/v1/admin/tenants", {"name": "initech"}, format="json", **bearer(tok)).status_code == 409
    assert api.patch(f"/v1/admin/tenants/{tid}", {"name": "Initrode"}, format="json",
                     **bearer(tok)).json()["name"] == "Initrode"
    from accounts.models import Tenant

    member = UserFactory(tenant=Tenant.objects.get(pk=tid))
    pair = login(api, member.username)
    r = api.post(f"/v1/admin/tenants/{tid}/disable", format="json", **bearer(tok))
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert api.get("/v1/users/me", **bearer(pair["access_token"])).status_code == 401
    r = api.post("/v1/auth/login", {"username": member.username, "password": PASSWORD}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    assert api.post(f"/v1/admin/tenants/{tid}/disable", format="json", **bearer(tok)).status_code == 409
    assert api.post(f"/v1/admin/tenants/{tid}/enable", format="json", **bearer(tok)).status_code == 200
    login(api, member.username)
    # tenant roles were seeded with the tenant
    from authz.enforcer import enforcer

    assert "tenant_admin" in enforcer().index.role_names(f"tenant:{tid}")


def test_only_platform_staff_mint_or_touch_staff_accounts(api, staff, settings):
    """Issue 14: a tenant admin created `user_type: staff` accounts and promoted users to staff.
    Making, promoting, demoting or changing a staff account needs /users write in the platform
    domain (docs/authz.md: platform staff, or a superuser); a tenant admin gets 403 and nothing changes."""
    from accounts.services import tenant_create

    _, staff_tok = staff
    tenant = tenant_create(name="acme", actor=Actor.system("test"))
    admin = UserFactory(tenant=tenant)
    grant(admin, "tenant_admin", tenant.pk)
    tok = login(api, admin.username)["access_token"]
    member = UserFactory(tenant=tenant)

    r = api.post("/v1/admin/users", {"username": "mole", "password": NEW_PW, "user_type": "staff"}, format="json",
                 **bearer(tok))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert not User.objects.filter(username="mole").exists()
    r = api.patch(f"/v1/admin/users/{member.pk}", {"user_type": "staff"}, format="json", **bearer(tok))
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert User.objects.get(pk=member.pk).user_type == "customer"
    assert not AuditEvent.objects.filter(action="user.updated", subject_user_id=member.pk).exists()
    # what a tenant admin may do for a customer stays as it was
    r = api.post("/v1/admin/users", {"username": "clerk", "password": NEW_PW, "user_type": "partner"}, format="json",
                 **bearer(tok))
    assert r.status_code == 201 and r.json()["user_type"] == "partner" and r.json()["tenant_id"] == tenant.pk
    assert api.patch(f"/v1/admin/users/{member.pk}", {"user_type": "partner"}, format="json",
                     **bearer(tok)).status_code == 200

    # platform staff may, in any tenant; a staff account is then theirs alone to change
    r = api.post("/v1/admin/users", {"username": "ops1", "password": NEW_PW, "user_type": "staff",
                                     "tenant_id": tenant.pk}, format="json", **bearer(staff_tok))
    assert r.status_code == 201 and r.json()["user_type"] == "staff"
    ops1 = User.objects.get(username="ops1")
    r = api.patch(f"/v1/admin/users/{member.pk}", {"user_type": "staff"}, format="json", **bearer(staff_tok))
    assert r.status_code == 200 and r.json()["user_type"] == "staff"
    for method, path, body in (("patch", f"/v1/admin/users/{ops1.pk}", {"email": "mine@evil.example"}),
                               ("patch", f"/v1/admin/users/{ops1.pk}", {"user_type": "customer"}),
                               ("post", f"/v1/admin/users/{ops1.pk}/freeze", {}),
                               ("post", f"/v1/admin/users/{ops1.pk}/delete", {})):
        r = getattr(api, method)(path, body, format="json", **bearer(tok))
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied", (method, path)
    ops1.refresh_from_db()
    assert ops1.email is None and ops1.user_type == "staff" and ops1.status == "active"
    # a superuser passes every Custos check
    root = UserFactory(is_superuser=True)
    r = api.post("/v1/admin/users", {"username": "ops2", "password": NEW_PW, "user_type": "staff"}, format="json",
                 **bearer(login(api, root.username)["access_token"]))
    assert r.status_code == 201 and r.json()["user_type"] == "staff"
