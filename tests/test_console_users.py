"""The console's users (issue 17, docs/console-users.md): search, filters without counts, create or
invite, the account actions behind their own permissions and confirmation pages, and a user's page
with its panels; every change through the API's services, audited with the staff actor."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LoginEvent, User
from audit.models import AuditEvent
from audit.services import Actor
from tests.conftest import grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/accounts/user/"
OBJ = "/admin/accounts/user"
OPS = ("freeze", "activate", "lock", "unlock", "delete", "forcelogout", "resetmfa", "resetpassword")
DESTRUCTIVE = {"freeze", "lock", "delete", "forcelogout", "resetmfa"}
ACTION_NAME = {"forcelogout": "force_logout", "resetmfa": "mfa_reset", "resetpassword": "password_reset"}


def _console(user) -> Client:
    client = Client()
    client.force_login(user, backend="accounts.backends.CustosModelBackend")
    return client


def _staff_with(*actions: str, name: str = "support", **extra) -> User:
    """A staff member whose only console rights are `actions` on the users page (platform domain)."""
    from authz.services import platform_roles_seed, role_create
    from authz.subjects import PLATFORM_DOMAIN

    platform_roles_seed()
    role_create(name=name, domain=PLATFORM_DOMAIN, permissions=[(OBJ, a) for a in actions],
                actor=Actor.system("test"))
    staff = UserFactory(user_type="staff", **extra)
    grant(staff, name)
    return staff


def _found(client, q: str) -> list[int]:
    r = client.get(LIST, {"q": q})
    assert r.status_code == 200
    return [u.pk for u in r.context["cl"].result_list]


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# ---- search ------------------------------------------------------------------------------------------------
def test_search_by_each_form(settings):
    settings.CUSTOS_DEFAULT_PHONE_REGION = "CN"
    root = UserFactory(user_type="staff", is_superuser=True, username="root", email="root@corp.example")
    alice = UserFactory(username="alice", email="Alice.Smith@Example.com")
    bob = UserFactory(username="bob", email="bob@other.org")
    carol = UserFactory(username="carol", email="carol@sub.example.com", phone="+8613800000000")
    client = _console(root)
    assert _found(client, "@example.com") == [alice.pk]  # the domain, not a subdomain
    assert _found(client, "@EXAMPLE.COM") == [alice.pk]
    assert _found(client, "@sub.example.com") == [carol.pk]
    assert _found(client, "alice.smith@example.com") == [alice.pk]  # the whole address, any case
    assert _found(client, "bob@other.org") == [bob.pk]
    assert _found(client, "example.com") == []  # neither a domain (no @) nor a username
    assert _found(client, "+86 138 0000 0000") == [carol.pk]
    assert _found(client, "13800000000") == [carol.pk]  # the default region
    assert _found(client, "138-0000-0000") == [carol.pk]
    assert _found(client, "ali") == [alice.pk]  # a username prefix
    assert _found(client, "ALI") == [alice.pk]
    assert _found(client, f"id:{bob.pk}") == [bob.pk]
    assert _found(client, f"#{bob.pk}") == [bob.pk]
    assert _found(client, f"# {carol.pk}") == [carol.pk]


def test_a_bare_number_never_matches_an_id(settings):
    settings.CUSTOS_DEFAULT_PHONE_REGION = "CN"
    root = UserFactory(user_type="staff", is_superuser=True)
    target = UserFactory(username="target")
    client = _console(root)
    r = client.get(LIST, {"q": str(target.pk)})
    assert [u.pk for u in r.context["cl"].result_list] == []
    assert "a bare number is never an id" in _messages(r)
    assert _found(client, f"id:{target.pk}") == [target.pk]
    r = client.get(LIST, {"q": "id:abc"})
    assert r.status_code == 200 and list(r.context["cl"].result_list) == [] and "An id is digits" in _messages(r)


@pytest.mark.parametrize("q", ["@", "@bad domain", "a@", "@@x", "x" * 200, "+", "#", "id:"])
def test_bad_search_terms_are_an_empty_list_not_an_error(q):
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    r = client.get(LIST, {"q": q})
    assert r.status_code == 200 and list(r.context["cl"].result_list) == []


def test_email_domain_is_kept_by_the_database():
    user = UserFactory(email="x@Example.ORG")
    assert User.objects.get(pk=user.pk).email_domain == "example.org"
    User.objects.filter(pk=user.pk).update(email="x@new.example")
    assert User.objects.get(pk=user.pk).email_domain == "new.example"
    User.objects.filter(pk=user.pk).update(email=None)
    assert User.objects.get(pk=user.pk).email_domain is None


# ---- list: no counts, filters, paging ------------------------------------------------------------------
def test_the_list_never_counts(monkeypatch):
    from accounts.admin import UserAdmin
    from tests.factories import TenantFactory

    monkeypatch.setattr(UserAdmin, "list_per_page", 2)
    tenant = TenantFactory()
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    users = [UserFactory(tenant=tenant) for _ in range(4)]
    for params in ({}, {"status__exact": "active"}, {"mfa": "on"}, {"email_verified": "yes"},
                   {"tenant": str(tenant.pk)}, {"q": "@example.com"}, {"p": "2"}):
        with CaptureQueriesContext(connection) as queries:
            r = client.get(LIST, params)
        assert r.status_code == 200
        sql = " ".join(q["sql"] for q in queries.captured_queries).upper()
        assert "COUNT(" not in sql, (params, sql)
    # previous / next instead of numbered pages
    first = client.get(LIST, {"tenant": str(tenant.pk)})
    assert [u.pk for u in first.context["cl"].result_list] == [users[3].pk, users[2].pk]
    assert b'id="page-next"' in first.content and b'id="page-prev"' not in first.content
    last = client.get(LIST, {"tenant": str(tenant.pk), "p": "2"})
    assert [u.pk for u in last.context["cl"].result_list] == [users[1].pk, users[0].pk]
    assert b'id="page-next"' not in last.content and b'id="page-prev"' in last.content
    assert client.get(LIST, {"p": "garbage"}).status_code == 200
    assert b"Show all" not in first.content


def test_filters():
    from accounts.models import TotpDevice
    from tests.factories import TenantFactory

    root = UserFactory(user_type="staff", is_superuser=True)
    t = TenantFactory()
    frozen = UserFactory(status="disabled", tenant=t)
    partner = UserFactory(user_type="partner")
    unverified = UserFactory(email_verified_at=None)
    with_mfa = UserFactory()
    TotpDevice.objects.create(user=with_mfa, name="app", key_sealed="x", confirmed=True)
    client = _console(root)

    def ids(params):
        return {u.pk for u in client.get(LIST, params).context["cl"].result_list}

    assert ids({"status__exact": "disabled"}) == {frozen.pk}
    assert ids({"user_type__exact": "partner"}) == {partner.pk}
    assert ids({"tenant": str(t.pk)}) == {frozen.pk}
    assert root.pk in ids({"tenant": "none"}) and frozen.pk not in ids({"tenant": "none"})
    assert ids({"mfa": "on"}) == {with_mfa.pk}
    assert with_mfa.pk not in ids({"mfa": "off"}) and partner.pk in ids({"mfa": "off"})
    assert ids({"email_verified": "no"}) == {unverified.pk}
    assert unverified.pk not in ids({"email_verified": "yes"})
    assert ids({"phone_verified": "yes"}) == set()


def test_select_across_pages_is_refused():
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    victim = UserFactory()
    r = client.post(LIST, {"action": "action_freeze", "_selected_action": [victim.pk], "select_across": "1",
                           "index": "0", "post": "yes"})
    assert r.status_code == 302
    assert User.objects.get(pk=victim.pk).status == "active"


# ---- actions: each its own permission, confirmation for the destructive ones ---------------------------
def _ready_for(op: str) -> User:
    status = {"activate": "disabled", "unlock": "locked"}.get(op, "active")
    user = UserFactory(status=status)
    if op == "resetmfa":
        from accounts.models import TotpDevice

        TotpDevice.objects.create(user=user, name="app", key_sealed="x", confirmed=True)
    return user


def _changed(op: str, user: User, before_version: int, mailoutbox) -> bool:
    fresh = User.objects.get(pk=user.pk)
    if op in ("freeze", "activate", "lock", "unlock", "delete"):
        return fresh.status == {"freeze": "disabled", "activate": "active", "lock": "locked", "unlock": "active",
                                "delete": "deleted"}[op]
    if op == "forcelogout":
        return fresh.token_version > before_version
    if op == "resetmfa":
        from accounts.models import TotpDevice

        return not TotpDevice.objects.filter(user=user, confirmed=True).exists()
    return any(m.to == [user.email] for m in mailoutbox)


EVENT = {"freeze": "user.frozen", "activate": "user.activated", "lock": "user.locked", "unlock": "user.unlocked",
         "delete": "user.deleted", "forcelogout": "user.forced_logout", "resetmfa": "mfa.disabled",
         "resetpassword": "password.reset_requested"}


@pytest.mark.parametrize("op", OPS)
def test_each_action_needs_its_own_permission(op, mailoutbox, django_capture_on_commit_callbacks):
    others = [o for o in OPS if o != op]
    staff = _staff_with("view", "change", *others)
    target = _ready_for(op)
    version = target.token_version
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/")
    assert page.status_code == 200 and f'id="btn-{op}"'.encode() not in page.content
    changelist = client.get(LIST)
    assert f'value="{ACTION_NAME.get(op, "action_" + op)}"'.encode() not in changelist.content
    with django_capture_on_commit_callbacks(execute=True):
        r1 = client.post(LIST, {"action": ACTION_NAME.get(op, f"action_{op}"), "_selected_action": [target.pk],
                                "index": "0", "select_across": "0", "post": "yes"})
        r2 = client.post(f"{LIST}{target.pk}/act/{op}/")
        r3 = client.get(f"{LIST}{target.pk}/act/{op}/")
    assert (r1.status_code, r2.status_code, r3.status_code) == (403, 403, 403)
    assert b"Your account may not do this" in r2.content
    assert not _changed(op, target, version, mailoutbox)
    assert not AuditEvent.objects.filter(action=EVENT[op], subject_user_id=target.pk).exists()


@pytest.mark.parametrize("op", OPS)
def test_each_action_from_the_list_with_its_permission(op, mailoutbox, django_capture_on_commit_callbacks):
    staff = _staff_with("view", op)
    target, bystander = _ready_for(op), _ready_for(op)
    version = target.token_version
    client = _console(staff)
    form = {"action": ACTION_NAME.get(op, f"action_{op}"), "_selected_action": [target.pk], "index": "0",
            "select_across": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(LIST, form)
    if op in DESTRUCTIVE:
        # the first POST only shows what will happen
        assert first.status_code == 200 and b'id="confirm-what"' in first.content
        assert str(target).encode() in first.content and str(bystander).encode() not in first.content
        assert not _changed(op, target, version, mailoutbox)
        with django_capture_on_commit_callbacks(execute=True):
            done = client.post(LIST, {**form, "post": "yes"})
    else:
        done = first
    assert done.status_code == 302
    assert _changed(op, target, version, mailoutbox)
    assert not _changed(op, bystander, bystander.token_version, [m for m in mailoutbox if m.to != [target.email]])
    event = AuditEvent.objects.filter(action=EVENT[op], subject_user_id=target.pk).latest("id")
    assert event.actor_type == "user" and event.actor_id == str(staff.pk)


@pytest.mark.parametrize("op", OPS)
def test_each_action_from_the_users_page(op, mailoutbox, django_capture_on_commit_callbacks):
    staff = _staff_with("view", op)
    target = _ready_for(op)
    version = target.token_version
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/")
    assert f'id="btn-{op}"'.encode() in page.content
    url = f"{LIST}{target.pk}/act/{op}/"
    shown = client.get(url)
    if op in DESTRUCTIVE:
        assert shown.status_code == 200 and b'id="confirm-yes"' in shown.content
    else:
        assert shown.status_code == 405  # its button posts at once: no page, and a GET acts never
    assert not _changed(op, target, version, mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url)
    assert r.status_code == 302 and r["Location"].endswith(f"/admin/accounts/user/{target.pk}/change/")
    assert _changed(op, target, version, mailoutbox)
    event = AuditEvent.objects.filter(action=EVENT[op], subject_user_id=target.pk).latest("id")
    assert event.actor_id == str(staff.pk)


def test_the_delete_permission_never_removes_the_row():
    """`accounts.delete_user` is the scrubbing Delete action; Django's own delete page (which would
    remove the row and everything hanging on it) stays refused, and its button is not shown."""
    staff = _staff_with("view", "change", "delete")
    target = UserFactory()
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/")
    assert b'class="deletelink"' not in page.content and b'id="btn-delete"' in page.content
    assert client.get(f"{LIST}{target.pk}/delete/").status_code == 403
    assert client.post(f"{LIST}{target.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=target.pk, status="active").exists()
    assert b'value="delete_selected"' not in client.get(LIST).content


def test_confirmation_page_says_what_happens_and_a_wrong_state_is_a_message(django_capture_on_commit_callbacks):
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    target = UserFactory(username="deleteme")
    page = client.get(f"{LIST}{target.pk}/act/delete/")
    assert b"This cannot be undone" in page.content and b"deleteme" in page.content
    assert User.objects.get(pk=target.pk).status == "active"
    # unlocking an active account: the service refuses, the page says so, nothing changes
    r = client.post(f"{LIST}{target.pk}/act/unlock/", follow=True)
    assert "Not changed" in _messages(r) and User.objects.get(pk=target.pk).status == "active"
    assert client.post(f"{LIST}{target.pk}/act/nosuch/").status_code == 404


def test_password_reset_link_is_mailed_never_shown(mailoutbox, django_capture_on_commit_callbacks):
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    target = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"{LIST}{target.pk}/act/resetpassword/", follow=True)
    (mail,) = [m for m in mailoutbox if m.to == [target.email]]
    link = next(line for line in mail.body.splitlines() if "token=" in line or "http" in line)
    token = link.rsplit("=", 1)[-1].rsplit("/", 1)[-1]
    assert len(token) >= 20 and token.encode() not in r.content
    no_email = UserFactory(email=None, username="noemail")
    r = client.post(f"{LIST}{no_email.pk}/act/resetpassword/", follow=True)
    assert "no email address" in _messages(r)


# ---- create or invite ------------------------------------------------------------------------------------
def test_create_with_an_invitation_or_a_password(mailoutbox, django_capture_on_commit_callbacks):
    staff = _staff_with("view", "add")
    client = _console(staff)
    assert client.get(f"{LIST}add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"{LIST}add/", {"username": "newbie", "email": "Newbie@Example.com", "user_type": "customer",
                                         "tenant": "", "how": "invite"})
    user = User.objects.get(username="newbie")
    assert r.status_code == 302 and r["Location"].endswith(f"/{user.pk}/change/")
    assert user.email == "Newbie@example.com" and not user.has_usable_password()
    assert [m.subject for m in mailoutbox if m.to == [user.email]] and "choose your password" in \
        mailoutbox[-1].body.lower()
    event = AuditEvent.objects.get(action="user.registered", subject_user_id=user.pk)
    assert event.actor_id == str(staff.pk)
    r = client.post(f"{LIST}add/", {"username": "withpw", "user_type": "partner", "tenant": "", "how": "password",
                                     "password": "a long enough console passphrase 2026"})
    assert r.status_code == 302 and User.objects.get(username="withpw").check_password(
        "a long enough console passphrase 2026")


@pytest.mark.parametrize("form, field", [
    ({"username": "x y", "how": "password", "password": "a long enough console passphrase"}, "username"),
    ({"username": "noemail", "how": "invite"}, "email"),
    ({"email": "not-an-address", "how": "invite"}, "email"),
    ({"username": "shortpw", "how": "password", "password": "short"}, "password"),
    ({"phone": "12", "how": "password", "password": "a long enough console passphrase"}, "phone"),
])
def test_bad_create_input_is_a_form_error(form, field):
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    before = User.objects.count()
    r = client.post(f"{LIST}add/", {"user_type": "customer", "tenant": "", **form})
    assert r.status_code == 200 and field in r.context["form"].errors, r.context["form"].errors
    assert User.objects.count() == before


def test_taken_identifier_is_a_form_error():
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    UserFactory(username="taken")
    r = client.post(f"{LIST}add/", {"username": "taken", "user_type": "customer", "tenant": "", "how": "password",
                                     "password": "a long enough console passphrase 2026"})
    assert r.status_code == 200 and b"errornote" in r.content
    other = UserFactory(username="other")
    r = client.post(f"{LIST}{other.pk}/change/", {"username": "taken", "email": other.email, "phone": "",
                                                  "user_type": "customer", "profile-TOTAL_FORMS": "0",
                                                  "profile-INITIAL_FORMS": "0"})
    assert r.status_code == 200 and "username" in r.context["adminform"].form.errors
    assert User.objects.get(pk=other.pk).username == "other"


def test_creating_needs_its_permission():
    client = _console(_staff_with("view"))
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.post(f"{LIST}add/", {"username": "sneaky", "how": "password", "user_type": "customer",
                                        "password": "a long enough console passphrase 2026"}).status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


# ---- a user's page and its panels ------------------------------------------------------------------------
def test_the_users_page_shows_no_secret():
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    target = UserFactory()
    target.refresh_from_db()
    page = client.get(f"{LIST}{target.pk}/change/").content.decode()
    assert target.password and target.password not in page
    assert "argon2" not in page.lower() and "password_hash" not in page
    assert 'name="token_version"' not in page and 'name="password"' not in page and "token_version" not in page
    assert 'name="username"' in page  # the identifiers are editable


def test_edit_identifiers_through_the_service():
    staff = _staff_with("view", "change")
    client = _console(staff)
    target = UserFactory(username="before")
    r = client.post(f"{LIST}{target.pk}/change/", {"username": "After", "email": target.email, "phone": "",
                                                   "user_type": "customer", "profile-TOTAL_FORMS": "0",
                                                   "profile-INITIAL_FORMS": "0"})
    assert r.status_code == 302
    assert User.objects.get(pk=target.pk).username == "after"  # normalized by the service
    assert AuditEvent.objects.get(action="user.updated", subject_user_id=target.pk).actor_id == str(staff.pk)


def _session_for(user):
    from sessions_app.services import session_start

    session_start(user=user, amr=["pwd"], actor=Actor.user(user.pk))
    from sessions_app.models import Session

    return Session.objects.filter(user_id=user.pk).latest("id")


def test_sessions_panel_and_revoke(signing_key):
    from sessions_app.models import Session

    staff = _staff_with("view", "revokesession")
    target, other = UserFactory(), UserFactory()
    s1, s2 = _session_for(target), _session_for(target)
    Session.objects.filter(pk=s1.pk).update(user_agent="Mozilla/5.0 TestPhone", ip="203.0.113.9",
                                            device_id="dev-1")
    foreign = _session_for(other)
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/").content.decode()
    assert 'id="panel-sessions"' in page and "TestPhone" in page and "203.0.113.9" in page and "dev-1" in page
    url = f"{LIST}{target.pk}/panel/sessions/revoke/"
    assert client.get(url).status_code == 405
    # another user's session through this user's page: not found, nothing ends
    r = client.post(url, {"session_id": foreign.session_id}, follow=True)
    assert "Not changed" in _messages(r) and not Session.objects.get(pk=foreign.pk).revoked
    r = client.post(url, {"session_id": s1.session_id})
    assert r.status_code == 302
    assert Session.objects.get(pk=s1.pk).revoked and not Session.objects.get(pk=s2.pk).revoked
    event = AuditEvent.objects.get(action="session.revoked", subject_user_id=target.pk)
    assert event.actor_id == str(staff.pk) and event.metadata["session_id"] == s1.session_id


def test_panel_actions_need_their_own_permission(signing_key):
    from federation.models import UserOAuth
    from sessions_app.models import Session

    staff = _staff_with("view", "change")
    target = UserFactory()
    session = _session_for(target)
    link = UserOAuth.objects.create(user=target, provider="acme", issuer="https://idp", provider_uid="s-1")
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/").content.decode()
    assert 'id="panel-sessions"' in page and 'value="Revoke"' not in page and 'value="Unbind"' not in page
    assert client.post(f"{LIST}{target.pk}/panel/sessions/revoke/",
                       {"session_id": session.session_id}).status_code == 403
    assert client.post(f"{LIST}{target.pk}/panel/identities/unbind/",
                       {"identity_id": link.pk}).status_code == 403
    assert client.post(f"{LIST}{target.pk}/panel/roles/grant/", {"role": "platform|auditor"}).status_code == 403
    assert client.post(f"{LIST}{target.pk}/panel/nosuch/x/").status_code == 404
    assert not Session.objects.get(pk=session.pk).revoked and UserOAuth.objects.filter(pk=link.pk).exists()
    assert not AuditEvent.objects.filter(action__in=["session.revoked", "identity.unbound", "role.granted"],
                                         subject_user_id=target.pk).exists()


def test_identities_panel_and_unbind():
    from federation.models import UserOAuth

    staff = _staff_with("view", "unbindidentity")
    target = UserFactory()
    a = UserOAuth.objects.create(user=target, provider="acme", issuer="https://idp.acme", provider_uid="sub-a")
    b = UserOAuth.objects.create(user=target, provider="wechat", issuer="wechat", provider_uid="sub-b")
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/").content.decode()
    assert "sub-a" in page and "wechat" in page
    r = client.post(f"{LIST}{target.pk}/panel/identities/unbind/", {"identity_id": a.pk})
    assert r.status_code == 302 and not UserOAuth.objects.filter(pk=a.pk).exists()
    assert UserOAuth.objects.filter(pk=b.pk).exists()
    event = AuditEvent.objects.get(action="identity.unbound", subject_user_id=target.pk)
    assert event.actor_id == str(staff.pk) and event.metadata["provider"] == "acme"
    # the last way in stays: no password, no verified address, one identity
    lonely = UserFactory(email=None, email_verified_at=None)
    lonely.set_unusable_password()
    lonely.save(update_fields=["password"])
    last = UserOAuth.objects.create(user=lonely, provider="acme", issuer="https://idp.acme", provider_uid="sub-c")
    r = client.post(f"{LIST}{lonely.pk}/panel/identities/unbind/", {"identity_id": last.pk}, follow=True)
    assert "last way to sign in" in _messages(r) and UserOAuth.objects.filter(pk=last.pk).exists()
    r = client.post(f"{LIST}{lonely.pk}/panel/identities/unbind/", {"identity_id": "x"}, follow=True)
    assert r.status_code == 200 and "Not changed" in _messages(r)


def test_roles_panel_grant_and_revoke():
    from authz.models import CasbinRule
    from authz.services import tenant_roles_seed
    from tests.factories import TenantFactory

    staff = _staff_with("view", "grantrole", "revokerole")
    tenant = TenantFactory()
    tenant_roles_seed(tenant_id=tenant.pk)
    target = UserFactory(tenant=tenant)
    client = _console(staff)
    page = client.get(f"{LIST}{target.pk}/change/").content.decode()
    assert 'id="panel-roles"' in page and f"tenant:{tenant.pk}|tenant_admin" in page
    url = f"{LIST}{target.pk}/panel/roles/"
    r = client.post(url + "grant/", {"role": f"tenant:{tenant.pk}|auditor"})
    assert r.status_code == 302
    held = CasbinRule.objects.filter(ptype="g", v0=f"user:{target.pk}")
    assert list(held.values_list("v1", "v2")) == [("auditor", f"tenant:{tenant.pk}")]
    assert AuditEvent.objects.get(action="role.granted", subject_user_id=target.pk).actor_id == str(staff.pk)
    # a domain this page does not offer (another tenant's) is refused
    other = TenantFactory()
    tenant_roles_seed(tenant_id=other.pk)
    r = client.post(url + "grant/", {"role": f"tenant:{other.pk}|auditor"}, follow=True)
    assert "Not changed" in _messages(r) and held.count() == 1
    r = client.post(url + "grant/", {"role": f"tenant:{tenant.pk}|nosuchrole"}, follow=True)
    assert "Not changed" in _messages(r) and held.count() == 1
    r = client.post(url + "revoke/", {"role": f"tenant:{tenant.pk}|auditor"})
    assert r.status_code == 302 and held.count() == 0
    assert AuditEvent.objects.get(action="role.revoked", subject_user_id=target.pk).actor_id == str(staff.pk)


def test_login_history_and_audit_panels():
    root = UserFactory(user_type="staff", is_superuser=True)
    target = UserFactory()
    LoginEvent.objects.create(user=target, occurred_at=timezone.now(), ip="198.51.100.4", country="DE",
                              method="pwd", result="challenged", risk_score=70,
                              reasons=["new_country", "new_device"], user_agent="Firefox/130")
    from audit.services import event_record

    event_record(action="user.frozen", actor=Actor.user(root.pk), subject_user_id=target.pk)
    page = _console(root).get(f"{LIST}{target.pk}/change/").content.decode()
    assert 'id="panel-logins"' in page and "new_country, new_device" in page and ">70<" in page
    assert 'id="panel-audit"' in page and "user.frozen" in page
    assert f"/admin/audit/auditevent/?subject_user_id={target.pk}" in page


def test_audit_link_only_for_those_who_may_read_the_trail():
    staff = _staff_with("view")
    target = UserFactory()
    page = _console(staff).get(f"{LIST}{target.pk}/change/").content.decode()
    assert 'id="panel-audit"' in page and "/admin/audit/auditevent/?subject_user_id=" not in page


def test_merge_is_its_own_permission():
    staff = _staff_with("view", "change")
    client = _console(staff)
    assert client.get(f"{LIST}merge/").status_code == 403
    assert b"Merge two accounts" not in client.get(LIST).content
