"""Password rules (NIST SP 800-63B-4): a breach/common list much larger than Django's, patterns,
context words, 15 characters alone and 8 with a second factor, and an optional online
k-anonymity breach check, on every door that sets a password: register, change, reset."""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import password_validation

from accounts.models import TotpDevice, User
from custos.crypto import seal
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

STRONG = "a brand new passphrase"


def _register(api, password: str, username: str = "newcomer", **extra):
    return api.post("/v1/auth/register", {"username": username, "password": password, **extra}, format="json")


def _change(api, user, new_password: str):
    token = login(api, user.username)["access_token"]
    return api.post("/v1/auth/password/change", {"current_password": PASSWORD, "new_password": new_password},
                    format="json", **bearer(token))


def _reset(api, user, new_password: str, mailoutbox):
    api.post("/v1/auth/password/reset/request", {"identifier": user.email}, format="json")
    token = re.search(r"token=(\S+)", mailoutbox[-1].body).group(1)
    return api.post("/v1/auth/password/reset/confirm", {"token": token, "new_password": new_password},
                    format="json")


DOORS = {
    "register": lambda api, user, pw, mail: _register(api, pw),
    "change": lambda api, user, pw, mail: _change(api, user, pw),
    "reset": lambda api, user, pw, mail: _reset(api, user, pw, mail),
}


def _refused(r, *reasons: str) -> dict:
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    for reason in reasons:
        assert reason in error["reasons"], error
    field = next(iter(error["fields"]))
    assert field in ("password", "new_password") and error["fields"][field]  # the reason in words too
    return error


# ---- what the review typed in -----------------------------------------------------------------
@pytest.mark.parametrize("door", sorted(DOORS))
@pytest.mark.parametrize(("password", "reason"), [("passwordpassword", "password_repetitive"),
                                                  ("123456789012345", "password_sequential")])
def test_review_passwords_are_refused_on_every_door(api, signing_key, mailoutbox, door, password, reason):
    user = UserFactory()
    error = _refused(DOORS[door](api, user, password, mailoutbox), reason)
    assert password not in str(error)  # the answer explains, it does not echo
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)  # nothing changed


@pytest.mark.parametrize("door", sorted(DOORS))
def test_a_strong_passphrase_passes_every_door(api, signing_key, mailoutbox, door):
    user = UserFactory()
    assert DOORS[door](api, user, STRONG, mailoutbox).status_code in (201, 204)


@pytest.mark.parametrize(("password", "reason"), [
    ("1qaz2wsx3edc4rfv5tgb", "password_keyboard_pattern"),  # a keyboard walk
    ("abcdefghijklmnopqr", "password_sequential"),
    ("iloveyou princess 2024", "password_too_common"),  # common passwords glued with separators
    ("123456 password qwerty", "password_too_common"),
    ("summer2024summer2024", "password_repetitive"),
    ("P@ssw0rdP@ssw0rd!!", "password_repetitive"),  # l33t and capitals do not hide it
])
def test_patterns_and_common_words_are_refused_with_their_reason(api, signing_key, password, reason):
    _refused(_register(api, password), reason)


def test_the_list_is_much_larger_than_djangos(api, signing_key):
    """Passwords of 15 characters and more from zxcvbn's breach list that Django's 20,000
    common passwords do not hold are refused as common."""
    from django.contrib.auth.password_validation import CommonPasswordValidator
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    django_list = CommonPasswordValidator().passwords
    beyond = [p for p in FREQUENCY_LISTS["passwords"] if len(p) >= 15 and p not in django_list]
    assert len(beyond) >= 20
    # the zxcvbn dictionaries together hold far more than Django's list
    assert len(set().union(*FREQUENCY_LISTS.values())) > 4 * len(django_list)
    for i, password in enumerate(beyond[:20]):
        _refused(_register(api, password, username=f"list{i}"), "password_too_common")


# ---- context words -----------------------------------------------------------------------------
@pytest.mark.parametrize(("username", "email", "password"), [
    ("marguerite", None, "marguerite-2026!!"),  # the username and a year
    ("mk", "jean.dupont@example.com", "jean.dupont.2026!"),  # the email's local part
    ("mk2", "zoe.k@example.com", "Dupontzoe.kDupont"),
    ("someone", None, "custos custos 2026"),  # the service's name
    ("someone", None, "FlyFlyFly2026!!!"),
])
def test_context_words_are_refused(api, signing_key, username, email, password):
    _refused(_register(api, password, username=username, **({"email": email} if email else {})),
             "password_contains_context")


def test_a_long_passphrase_that_contains_a_context_word_is_fine(api, signing_key):
    """The rule is about passwords built around the context, not every word that contains
    "fly" or the username: what is left without them must hold on its own."""
    assert _register(api, "alice-correct-horse-battery-staple", username="alice").status_code == 201
    assert _register(api, "butterfly gardens and oxygen tanks", username="bob").status_code == 201


# ---- length: 15 alone, 8 with a second factor ---------------------------------------------------
def _with_totp(user: User) -> User:
    TotpDevice.objects.create(user=user, name="t", key_sealed=seal("00" * 20), confirmed=True)
    return user


def test_fifteen_characters_when_the_password_is_the_only_factor(api, signing_key, mailoutbox):
    fourteen, fifteen = "Xk9#mQ2!vL7@pR", "Xk9#mQ2!vL7@pRw"
    _refused(_register(api, fourteen), "password_too_short")
    assert _register(api, fifteen).status_code == 201
    user = UserFactory()
    _refused(_change(api, user, fourteen), "password_too_short")
    _refused(_reset(api, user, fourteen, mailoutbox), "password_too_short")


def test_eight_characters_when_a_second_factor_backs_the_password(api, signing_key, mailoutbox):
    """The validators get the account itself on change and reset: with a confirmed TOTP
    device the password is one factor of two. Login with MFA answers a challenge, so the
    change is made through the service the view calls."""
    from accounts.services import password_change
    from audit.services import Actor

    user = _with_totp(UserFactory())
    ten = "Zq8!xR4#vK"
    password_change(user_id=user.pk, current_password=PASSWORD, new_password=ten, keep_session_id=None,
                    actor=Actor.user(user.pk))
    assert User.objects.get(pk=user.pk).check_password(ten)
    r = _reset(api, user, "Pq3$wN6&", mailoutbox)  # 8 random characters
    assert r.status_code == 204, r.content
    _refused(_reset(api, user, "Pq3$wN6", mailoutbox), "password_too_short")  # 7


def test_the_minimums_are_settings(api, signing_key, settings):
    validators = [dict(v) for v in django_settings.AUTH_PASSWORD_VALIDATORS]
    for v in validators:
        if v["NAME"] == "accounts.validators.MinimumLengthValidator":
            v["OPTIONS"] = {"min_length": 8, "min_length_single_factor": 20}
    settings.AUTH_PASSWORD_VALIDATORS = validators
    _refused(_register(api, "Xk9#mQ2!vL7@pRw-19c"), "password_too_short")  # 19
    assert _register(api, "Xk9#mQ2!vL7@pRw-20ch").status_code == 201


def test_the_projects_own_fixed_passwords_pass():
    """The factories' password and `make bench`'s must stay valid for new accounts."""
    for username, password in (("user0", PASSWORD), ("bench0", "bench passphrase 2026"),
                               ("reset0", "bench passphrase 2026")):
        password_validation.validate_password(password, user=User(username=username,
                                                                   email=f"{username}@example.com"))


def test_help_texts_say_the_rules():
    texts = " ".join(password_validation.password_validators_help_texts())
    assert "15 characters" in texts and "8 if your account has a second factor" in texts
    assert "common or breached" in texts


def test_a_crafted_long_password_is_judged_quickly(api, signing_key):
    """zxcvbn's cost grows with length and l33t symbols: only a prefix is analysed, so the
    longest allowed password costs no more than a short one (a bound, not a benchmark)."""
    crafted = ("4@8({[<3&6|!1|7+%2$0" * 205)[:4096]
    started = time.monotonic()
    _register(api, crafted)
    assert time.monotonic() - started < 10


# ---- the online breach check (k-anonymity), against a stub on 127.0.0.1 -------------------------
class _Range(BaseHTTPRequestHandler):
    """HIBP's range API shape: GET /range/{5 hex} -> SUFFIX:COUNT lines."""

    breached: set[str] = set()
    seen: list[tuple[str, dict]] = []
    delay = 0.0
    status = 200

    def do_GET(self):
        type(self).seen.append((self.path, dict(self.headers)))
        time.sleep(type(self).delay)
        prefix = self.path.rsplit("/", 1)[-1]
        lines = [f"{h[5:]}:{42}" for h in type(self).breached if h.startswith(prefix)]
        lines += ["0" * 35 + ":0", "F" * 35 + ":0"]  # padding, as the real service adds
        body = "\r\n".join(lines).encode()
        try:
            self.send_response(type(self).status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the slow case: the client gave up, as it should

    def log_message(self, *args):  # the stub keeps no log of what it is asked
        pass


@pytest.fixture
def breach_stub(settings):
    _Range.breached, _Range.seen, _Range.delay, _Range.status = set(), [], 0.0, 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Range)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _use_breach_url(settings, f"http://127.0.0.1:{server.server_address[1]}/range", timeout=0.5)
    yield _Range
    server.shutdown()
    server.server_close()


def _use_breach_url(settings, url: str, timeout: float) -> None:
    validators = [dict(v) for v in django_settings.AUTH_PASSWORD_VALIDATORS]
    for v in validators:
        if v["NAME"] == "accounts.validators.BreachedPasswordValidator":
            v["OPTIONS"] = {"url": url, "timeout": timeout}
    settings.AUTH_PASSWORD_VALIDATORS = validators  # Django drops its cached validators


def _sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


def test_breached_password_is_refused_and_only_a_prefix_leaves(api, signing_key, breach_stub, mailoutbox, caplog):
    leaked = "a perfectly fine but leaked passphrase"
    breach_stub.breached = {_sha1(leaked)}
    _refused(_register(api, leaked), "password_breached")
    user = UserFactory()
    _refused(_change(api, user, leaked), "password_breached")
    _refused(_reset(api, user, leaked, mailoutbox), "password_breached")
    assert breach_stub.seen
    for path, headers in breach_stub.seen:
        assert path == f"/range/{_sha1(leaked)[:5]}" or path == f"/range/{_sha1(STRONG)[:5]}"
        assert headers.get("Add-Padding") == "true"
    asked = " ".join(p for p, _ in breach_stub.seen)
    assert leaked not in asked and _sha1(leaked)[5:] not in asked  # k-anonymity: 5 hex digits only
    assert leaked not in caplog.text and _sha1(leaked)[:5] not in caplog.text


def test_a_password_the_corpus_does_not_hold_passes(api, signing_key, breach_stub):
    breach_stub.breached = {_sha1("something else entirely 123")}
    assert _register(api, STRONG).status_code == 201
    assert [p for p, _ in breach_stub.seen] == [f"/range/{_sha1(STRONG)[:5]}"]


@pytest.mark.parametrize("failure", ["down", "slow", "error"])
def test_the_breach_check_fails_open(api, signing_key, breach_stub, settings, caplog, failure):
    """A dead, slow or failing service never blocks a password change (it is a help, not a
    gate): the other rules decide, and a warning is logged without the password or its hash."""
    breach_stub.breached = {_sha1(STRONG)}  # it would be refused, were the service to answer
    if failure == "down":
        with socketserver_port() as port:
            _use_breach_url(settings, f"http://127.0.0.1:{port}/range", timeout=0.5)
    elif failure == "slow":
        breach_stub.delay = 2.0
    else:
        breach_stub.status = 503
    caplog.set_level(logging.WARNING, logger="custos.passwords")
    started = time.monotonic()
    assert _register(api, STRONG).status_code == 201
    assert time.monotonic() - started < 10  # bounded by the timeout, not by the service
    warnings = [r for r in caplog.records if r.name == "custos.passwords"]
    assert warnings and "unavailable" in warnings[0].getMessage()
    assert STRONG not in caplog.text and _sha1(STRONG)[:5] not in caplog.text
    # the other rules still apply while it is down
    _refused(_register(api, "passwordpassword", username="other"), "password_repetitive")


def test_no_url_no_request(api, signing_key, breach_stub, settings):
    _use_breach_url(settings, "", timeout=0.5)
    assert _register(api, STRONG).status_code == 201
    assert breach_stub.seen == []


def socketserver_port():
    """A port nothing listens on (bound, then closed)."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def closed_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        yield port

    return closed_port()
