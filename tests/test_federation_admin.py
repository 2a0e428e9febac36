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


# ---- Apple and WeChat in the console ----------------------------------------------------------------
def _apple_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _apple_form(**over):
    return _form(**{"name": "apple", "kind": "apple", "client_id": "com.example.fly.web", "client_secret": "",
                    "team_id": "A1B2C3D4E5", "key_id": "KEY123ABCD", "issuer": "", "scopes": "", **over})


def test_console_apple_key_pasted_or_uploaded_is_sealed_and_never_shown(console):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pem = _apple_pem()
    r = console.post("/admin/federation/oauthprovider/add/", _apple_form(private_key=pem))
    assert r.status_code == 302, r.content[:3000]
    p = OAuthProvider.objects.get(name="apple")
    assert (p.team_id, p.key_id, p.issuer, p.scopes) == ("A1B2C3D4E5", "KEY123ABCD", "https://appleid.apple.com",
                                                         "name email")
    assert unseal(p.client_secret_sealed) == pem
    page = console.get(f"/admin/federation/oauthprovider/{p.pk}/change/").content.decode()
    assert pem.splitlines()[1] not in page and p.client_secret_sealed not in page
    # a change without a key keeps it; an uploaded .p8 replaces it
    r = console.post(f"/admin/federation/oauthprovider/{p.pk}/change/",
                     _apple_form(name=None, kind=None, display_name="Apple", private_key=""))
    assert r.status_code == 302, r.content[:3000]
    p.refresh_from_db()
    assert p.display_name == "Apple" and unseal(p.client_secret_sealed) == pem
    other = _apple_pem()
    r = console.post(f"/admin/federation/oauthprovider/{p.pk}/change/",
                     {**_apple_form(name=None, kind=None, display_name="Apple", private_key=""),
                      "private_key_file": SimpleUploadedFile("AuthKey_KEY123ABCD.p8", other.encode())})
    assert r.status_code == 302, r.content[:3000]
    p.refresh_from_db()
    assert unseal(p.client_secret_sealed) == other
    changes = AuditEvent.objects.filter(action=Action.IDENTITY_PROVIDER_CHANGED).order_by("occurred_at", "id")
    assert [e.metadata.get("fields") for e in changes] == [None, ["display_name"], ["private_key"]]
    assert "PRIVATE" not in str([e.metadata for e in changes])


def test_console_refuses_bad_apple_settings(console):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pem = _apple_pem()
    for over in ({"private_key": ""}, {"private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"},
                 {"private_key": pem, "team_id": "short"}, {"private_key": pem, "key_id": ""},
                 {"private_key": pem, "client_secret": "a-secret"},
                 {"private_key_file": SimpleUploadedFile("k.p8", b"\xff\xfe" * 10)}):
        r = console.post("/admin/federation/oauthprovider/add/", _apple_form(**over))
        assert r.status_code == 200 and b"errorlist" in r.content, over
    r = console.post("/admin/federation/oauthprovider/add/", _form(team_id="A1B2C3D4E5"))  # an oidc provider
    assert r.status_code == 200 and b"Only for --kind apple" in r.content
    assert not OAuthProvider.objects.exists()


def test_console_wechat_with_the_existing_fields(console):
    from tests.test_federation_kinds import WX_APPID, WX_SECRET

    r = console.post("/admin/federation/oauthprovider/add/",
                     _form(name="wechat", kind="wechat", client_id=WX_APPID, client_secret=WX_SECRET, issuer="",
                           scopes="", store_tokens="on"))
    assert r.status_code == 302, r.content[:3000]
    p = OAuthProvider.objects.get(name="wechat")
    assert (p.issuer, p.scopes, p.store_tokens) == ("https://open.weixin.qq.com", "snsapi_login", True)
    assert run("test", "wechat").strip().endswith("wechat ok")


def test_add_store_tokens_and_bad_private_key_file_exit_without_traceback(tmp_path):
    run("add", "gh", "--kind", "github", "--client-id", "c", "--client-secret", "longenough", "--store-tokens")
    assert OAuthProvider.objects.get(name="gh").store_tokens
    proc = subprocess.run([sys.executable, "manage.py", "oauth_provider", "add", "ap", "--kind", "apple",
                           "--client-id", "c", "--team-id", "A1B2C3D4E5", "--key-id", "KEY123ABCD",
                           "--private-key-file", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, "CUSTOS_TEST_DB_SUFFIX": "fedkinds-cli"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "private_key_file" in proc.stderr
