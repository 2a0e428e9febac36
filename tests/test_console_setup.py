"""First-time setup (docs/console.md): no default credentials; a one-time link while no staff
account exists; one step makes the first superuser with an authenticator; then the page is gone."""
import re
import time
from io import StringIO

import pyotp
import pytest
from django.core import signing
from django.core.management import call_command
from django.test import Client

from accounts.models import BackupCode, ConsoleSetup, TotpDevice, User
from audit.models import AuditEvent
from tests.factories import UserFactory

GOOD = "correct horse battery staple 42"


def _link() -> str:
    out = StringIO()
    call_command("setup_link", stdout=out)
    found = re.search(r"(/setup/\?token=\S+)", out.getvalue())
    assert found, out.getvalue()
    return found.group(1)


def _open(client: Client) -> str:
    """Follow the printed link; the token leaves the address bar; the page shows the secret."""
    r = client.get(_link())
    assert r.status_code == 302 and r["Location"] == "/setup/"
    page = client.get("/setup/")
    assert page.status_code == 200 and b"setup-qr" in page.content and b"<svg" in page.content
    return re.search(r'id="setup-secret">([A-Z2-7]+)<', page.content.decode()).group(1)


def _form(secret: str, **over) -> dict:
    return {"username": "root-admin", "email": "ops@example.com", "password1": GOOD, "password2": GOOD,
            "code": pyotp.TOTP(secret).now(), **over}


@pytest.mark.django_db
def test_the_setup_makes_one_superuser_with_an_authenticator_then_is_gone():
    client = Client()
    secret = _open(client)
    r = client.post("/setup/", _form(secret))
    assert r.status_code == 200, r.content
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", r.content.decode())
    assert len(codes) == 10
    user = User.objects.get(username="root-admin")
    assert user.is_superuser and user.is_staff and user.check_password(GOOD)
    assert TotpDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert BackupCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    event = AuditEvent.objects.get(action="setup.completed")
    assert event.subject_user_id == user.pk and GOOD not in str(event.metadata)
    assert ConsoleSetup.objects.get().user_id == user.pk
    # gone for good: the page, the old link, a new link (none is printed)
    assert client.get("/setup/").status_code == 404
    assert Client().get("/setup/").status_code == 404
    out = StringIO()
    call_command("setup_link", stdout=out)
    assert out.getvalue() == ""
    user.delete()  # even with no staff left, the install stays set up
    assert Client().get("/setup/?token=" + signing.dumps({"n": "x"}, salt="custos.console.setup")).status_code == 404


@pytest.mark.django_db
def test_the_enrolled_authenticator_is_the_one_that_signs_in(settings):
    from accounts.security import mfa

    client = Client()
    secret = _open(client)
    assert client.post("/setup/", _form(secret)).status_code == 200
    user = User.objects.get(username="root-admin")
    assert mfa.mfa_methods(user.pk)[0] == "totp"
    # the console's second step takes a code of the scanned secret (next time step: codes are single use)
    console = Client()
    r = console.post("/admin/login/", {"username": "root-admin", "password": GOOD})
    assert b"second-factor-form" in r.content
    later = pyotp.TOTP(secret).at(time.time() + 30)
    r = console.post("/admin/login/", {"step": "second_factor", "method": "totp", "code": later})
    assert r.status_code == 302, r.content
    assert console.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_wrong_code_or_a_weak_password_writes_nothing():
    client = Client()
    secret = _open(client)
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1000000).zfill(6)
    r = client.post("/setup/", _form(secret, code=wrong))
    assert r.status_code == 400 and b"not the one your app shows" in r.content
    r = client.post("/setup/", _form(secret, password1="password", password2="password"))
    assert r.status_code == 400 and b"errorlist" in r.content
    r = client.post("/setup/", _form(secret, password2="something else entirely 99"))
    assert r.status_code == 400
    r = client.post("/setup/", _form(secret, username="bad name!"))
    assert r.status_code == 400
    assert not User.objects.exists() and not TotpDevice.objects.exists() and not ConsoleSetup.objects.exists()
    assert not AuditEvent.objects.filter(action="setup.completed").exists()
    assert client.post("/setup/", _form(secret)).status_code == 200  # and the page still works


@pytest.mark.django_db
def test_no_link_no_page_and_a_bad_or_expired_link_is_refused(monkeypatch):
    assert Client().get("/setup/").status_code == 404  # a stranger without the link sees nothing
    r = Client().get("/setup/?token=forged")
    assert r.status_code == 403 and b"invalid or expired" in r.content
    link = _link()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 24 * 3600 + 5)
    r = Client().get(link)
    assert r.status_code == 403 and b"invalid or expired" in r.content
    monkeypatch.setattr(time, "time", real)
    assert Client().get(link).status_code == 302


@pytest.mark.django_db
def test_a_staff_account_closes_the_setup_and_createsuperuser_still_works(monkeypatch):
    client = Client()
    secret = _open(client)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", GOOD)
    call_command("createsuperuser", "--noinput", username="scripted", email="s@example.com", stdout=StringIO())
    assert User.objects.get(username="scripted").is_superuser
    assert client.post("/setup/", _form(secret)).status_code == 404  # the open form cannot make a second one
    assert not User.objects.filter(username="root-admin").exists()
    out = StringIO()
    call_command("setup_link", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.django_db
def test_a_customer_account_does_not_close_the_setup():
    UserFactory()
    assert "/setup/?token=" in _link()
