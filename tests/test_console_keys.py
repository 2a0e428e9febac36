"""Signing keys in the staff console (issue 17): every key with its state; a rotation staged
through the same service as `manage.py rotate_keys`, behind its own permission, audited."""
import pytest
from django.test import Client

from audit.models import AuditEvent
from keys import selectors, services
from keys.models import JwkKey
from tests.conftest import grant
from tests.factories import UserFactory


def _console(user) -> Client:
    client = Client()
    client.force_login(user, backend="accounts.backends.CustosModelBackend")
    return client


@pytest.mark.django_db
def test_staff_see_every_key_with_its_state_and_stage_a_rotation(signing_key):
    from audit.services import Actor

    services.keys_rotate(actor=Actor.system("test"))  # one active, one next
    admin = UserFactory(user_type="staff", is_superuser=True)
    client = _console(admin)
    page = client.get("/admin/keys/jwkkey/").content.decode()
    for k in selectors.key_states():
        assert k["kid"] in page
    assert ">active<" in page and ">next<" in page and "Stage a rotation" in page
    before = set(JwkKey.objects.values_list("kid", flat=True))
    confirm = client.get("/admin/keys/jwkkey/rotate/")
    assert confirm.status_code == 200 and b"stays in the JWKS until the last token" in confirm.content
    assert set(JwkKey.objects.values_list("kid", flat=True)) == before  # showing the page changes nothing
    r = client.post("/admin/keys/jwkkey/rotate/", {"alg": "RS256", "activate_now": "on"})
    assert r.status_code == 302
    (new,) = set(JwkKey.objects.values_list("kid", flat=True)) - before
    assert JwkKey.objects.get(kid=new).alg == "RS256"
    assert {k["kid"]: k["state"] for k in selectors.key_states()}[new] == "active"
    event = AuditEvent.objects.filter(action="key.rotated").latest("occurred_at")
    assert event.actor_type == "user" and event.actor_id == str(admin.pk) and event.metadata["new_kid"] == new


@pytest.mark.django_db
def test_rotating_is_its_own_permission(signing_key, django_capture_on_commit_callbacks):
    from audit.services import Actor
    from authz.services import platform_roles_seed, role_create, role_permissions_replace
    from authz.subjects import PLATFORM_DOMAIN

    platform_roles_seed()
    role_create(name="key_viewer", domain=PLATFORM_DOMAIN, permissions=[("/admin/keys/jwkkey", "view")],
                actor=Actor.system("test"))
    viewer = UserFactory(user_type="staff")
    grant(viewer, "key_viewer")
    client = _console(viewer)
    page = client.get("/admin/keys/jwkkey/")
    assert page.status_code == 200 and b"Stage a rotation" not in page.content
    before = JwkKey.objects.count()
    refused = client.get("/admin/keys/jwkkey/rotate/")
    assert refused.status_code == 403 and b"Your account may not do this" in refused.content
    assert client.post("/admin/keys/jwkkey/rotate/", {"alg": "ES256"}).status_code == 403
    assert JwkKey.objects.count() == before
    with django_capture_on_commit_callbacks(execute=True):
        role_permissions_replace(name="key_viewer", domain=PLATFORM_DOMAIN, actor=Actor.system("test"),
                                 permissions=[("/admin/keys/jwkkey", "view"), ("/admin/keys/jwkkey", "rotate")])
    assert client.post("/admin/keys/jwkkey/rotate/", {"alg": "ES256"}).status_code == 302
    assert JwkKey.objects.count() == before + 1


@pytest.mark.django_db
def test_bad_rotation_input_is_a_form_error(signing_key):
    client = _console(UserFactory(user_type="staff", is_superuser=True))
    before = JwkKey.objects.count()
    r = client.post("/admin/keys/jwkkey/rotate/", {"alg": "none"})
    assert r.status_code == 200 and b"errorlist" in r.content and JwkKey.objects.count() == before
