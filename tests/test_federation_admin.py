"""manage.py oauth_provider (the operators' interface, fixed: the gateway team scripts it) and the console page."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import Action, AuditEvent
from custos.crypto import unseal
from federation.models import OAuthProvider
from tests.test_federation import SECRET, idp  # noqa: F401  (the module-scoped OpenID provider)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("oauth_provider", *args, stdout=out)
    return out.getvalue()


def test_add_list_disable_enable_remove_each_audited(idp):  # noqa: F811
    out = run("add", "acme", "--kind", "oidc", "--client-id", "custos-a", "--client-secret", SECRET,
              "--issuer", idp.issuer + "/", "--scopes", "openid email", "--display-name", "Acme ID", "--trust-email")
    assert "added acme" in out
    p = OAuthProvider.objects.get(name="acme")
    assert (p.kind, p.client_id, p.issuer, p.scopes, p.display_name, p.trust_email, p.enabled) == (
        "oidc", "custos-a", idp.issuer, "openid email", "Acme ID", True, True)
    assert SECRET not in p.client_secret_sealed and unseal(p.client_secret_sealed) == SECRET  # sealed at rest
    listed = run("list")
    assert "acme\toidc\tenabled" in listed and SECRET not in listed
    assert "disabled" in run("disable", "acme") and not OAuthProvider.objects.get(name="acme").enabled
    assert "enabled" in run("enable", "acme") and OAuthProvider.objects.get(name="acme").enabled
    out = run("test", "acme")
    assert "discovery ok" in out and "jwks ok" in out and out.strip().endswith("acme ok")
    assert "removed" in run("remove", "acme") and not OAuthProvider.objects.exists()
    changes = [e.metadata["change"] for e in AuditEvent.objects.filter(action=Action.IDENTITY_PROVIDER_CHANGED)
               .order_by("occurred_at", "id")]
    assert changes == ["added", "disabled", "enabled", "removed"]


def test_google_needs_no_issuer():
    run("add", "google", "--kind", "google", "--client-id", "123.apps.googleusercontent.com",
        "--client-secret", "GOCSPX-secret")
    assert OAuthProvider.objects.get(name="google").issuer == "https://accounts.google.com"


@pytest.mark.parametrize("args, message", [
    (["add", "Bad Name", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "https://i.example"],
     "name"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s"], "issuer"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "ftp://i"], "issuer"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "https://i.example?q"],
     "issuer"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "has space", "--issuer", "https://i.ex"],
     "client_secret"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "https://i.example",
      "--scopes", "email profile"], "scopes"),
    (["add", "x", "--kind", "apple", "--client-id", "c", "--client-secret", "s"], "Apple takes no client secret"),
    (["add", "x", "--kind", "wechat", "--client-id", "wx0123456789abcdef"], "client_secret"),
    (["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "https://i.example",
      "--team-id", "ABCDE12345"], "Only for --kind apple"),
    (["enable", "nope"], "No such"),
    (["disable", "nope"], "No such"),
    (["remove", "nope"], "No such"),
    (["test", "nope"], "No such"),
])
def test_bad_input_is_a_clear_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_a_duplicate_name_is_refused():
    args = ["add", "x", "--kind", "oidc", "--client-id", "c", "--client-secret", "s", "--issuer", "https://i.example"]
    run(*args)
    with pytest.raises(CommandError, match="exists"):
        run(*args)


def test_test_reports_an_unreachable_provider(settings):
    run("add", "gone", "--kind", "oidc", "--client-id", "c", "--client-secret", "longenough",
        "--issuer", "http://127.0.0.1:9")
    with pytest.raises(CommandError, match="Discovery or JWKS"):
        run("test", "gone")


@pytest.mark.parametrize("args", [["add", "x"], ["bogus"], ["add", "x", "--kind", "saml", "--client-id", "c",
                                                             "--client-secret", "s"], []])
def test_argument_errors_exit_non_zero_without_a_traceback(args):
    proc = subprocess.run([sys.executable, "manage.py", "oauth_provider", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "error" in proc.stderr


# ---- the same settings as a page of the staff console --------------------------------------------
@pytest.fixture
def console(client):
    from tests.factories import UserFactory

    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    client.force_login(staff, backend="accounts.backends.CustosModelBackend")
    return client


def _form(**over):
    data = {"name": "corp", "kind": "oidc", "display_name": "Corp SSO", "client_id": "cid",
            "client_secret": "console-secret-1", "issuer": "https://sso.corp.example", "scopes": "openid email",
            "enabled": "on"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_console_adds_changes_and_deletes_a_provider_audited(console):
    r = console.post("/admin/federation/oauthprovider/add/", _form())
    assert r.status_code == 302, r.content[:2000]
    p = OAuthProvider.objects.get(name="corp")
    assert unseal(p.client_secret_sealed) == "console-secret-1" and p.issuer == "https://sso.corp.example"
    page = console.get(f"/admin/federation/oauthprovider/{p.pk}/change/").content.decode()
    assert "console-secret-1" not in page and p.client_secret_sealed not in page  # never shown again
    # a change without a secret keeps it
    r = console.post(f"/admin/federation/oauthprovider/{p.pk}/change/",
                     _form(name=None, kind=None, client_secret="", display_name="Corp", trust_email="on"))
    assert r.status_code == 302, r.content[:2000]
    p.refresh_from_db()
    assert p.display_name == "Corp" and p.trust_email and unseal(p.client_secret_sealed) == "console-secret-1"
    r = console.post(f"/admin/federation/oauthprovider/{p.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not OAuthProvider.objects.exists()
    events = AuditEvent.objects.filter(action=Action.IDENTITY_PROVIDER_CHANGED).order_by("occurred_at", "id")
    assert [e.metadata["change"] for e in events] == ["added", "updated", "removed"]
    assert events[1].metadata["fields"] == ["display_name", "trust_email"]
    assert all(e.actor_id == str(User.objects.get(username="root").pk) for e in events)


def test_console_refuses_bad_settings_with_form_errors(console):
    for over in ({"issuer": "ftp://x"}, {"client_secret": ""}, {"kind": "apple"}, {"scopes": "email"},
                 {"client_id": "has space"}):
        r = console.post("/admin/federation/oauthprovider/add/", _form(**over))
        assert r.status_code == 200 and b"errorlist" in r.content, over
    assert not OAuthProvider.objects.exists()
