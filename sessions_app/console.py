"""The staff console's door: the Django admin's sign-in, in two steps (password, then the second
factor when the account has one or the risk rules ask for it), through the one sign-in flow
(sessions_app.signin) with the console channel. Interface code only: parse the form, call the
flow, render. The pending challenge's token stays in the server-side session; the browser
never sees it."""
from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import User
from accounts.security.mfa import MfaTokenInvalid
from custos.exceptions import CustosError, RateLimited

from . import signin

PENDING = "custos_console_mfa"  # session key: {"token", "methods", "next"}
METHOD_LABELS = {"totp": "Authenticator app code", "backup_code": "Backup code",
                 "email_otp": "Code sent to your email", "sms_otp": "Code sent to your phone"}
WRONG_PASSWORD = ("Please enter the correct username and password for a staff account. "
                  "Note that both fields may be case-sensitive.")


class PasswordForm(forms.Form):
    username = forms.CharField(max_length=254, label="Username, email or phone",
                               widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}))
    password = forms.CharField(max_length=4096, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class SecondFactorForm(forms.Form):
    method = forms.ChoiceField(choices=[])
    code = forms.CharField(max_length=32, label="Code",
                           widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code",
                                                         "inputmode": "text"}))

    def __init__(self, *args: Any, methods: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [(m, METHOD_LABELS.get(m, m)) for m in methods]


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return default


def _refusal(exc: CustosError) -> tuple[str, int]:
    if isinstance(exc, RateLimited):
        wait = (exc.headers or {}).get("Retry-After", "")
        when = "in a second" if wait == "1" else f"in {wait} seconds" if wait.isdigit() else "later"
        return f"Too many attempts. Try again {when}.", 429
    return WRONG_PASSWORD, 200


def login(request: HttpRequest, *, context: dict[str, Any]) -> HttpResponse:
    """GET shows the step the visitor is at; POST takes that step."""
    index = reverse("admin:index")
    nxt = _next_url(request, index)
    pending = request.session.get(PENDING)
    if request.method == "POST" and request.POST.get("step") == "second_factor" and pending:
        return _second_factor(request, context=context, pending=pending)
    if request.method == "POST" and request.POST.get("step") == "restart":
        request.session.pop(PENDING, None)
        return HttpResponseRedirect(request.get_full_path())
    if request.method != "POST":
        if pending:
            return _render_second(request, context, SecondFactorForm(methods=pending["methods"]), pending)
        return _render_password(request, context, PasswordForm(), nxt)
    form = PasswordForm(request.POST)
    if not form.is_valid():
        return _render_password(request, context, form, nxt)
    try:
        signed = signin.password(identifier=form.cleaned_data["username"], password=form.cleaned_data["password"],
                                 channel=signin.ConsoleChannel(request))
    except CustosError as exc:
        message, status = _refusal(exc)
        form.add_error(None, message)
        return _render_password(request, context, form, nxt, status=status)
    if signed.challenge is not None:
        pending = {"token": signed.challenge["mfa_token"], "methods": signed.challenge["methods"], "next": nxt}
        request.session[PENDING] = pending
        return _render_second(request, context, SecondFactorForm(methods=pending["methods"]), pending)
    return HttpResponseRedirect(nxt)


def _second_factor(request: HttpRequest, *, context: dict[str, Any], pending: dict[str, Any]) -> HttpResponse:
    form = SecondFactorForm(request.POST, methods=pending["methods"])
    if not form.is_valid():
        return _render_second(request, context, form, pending)
    try:
        signin.second_factor(token=pending["token"], code=form.cleaned_data["code"],
                             method=form.cleaned_data["method"], channel=signin.ConsoleChannel(request))
    except RateLimited as exc:
        form.add_error(None, _refusal(exc)[0])
        return _render_second(request, context, form, pending, status=429)
    except MfaTokenInvalid:
        request.session.pop(PENDING, None)  # expired or spent: start again from the password
        first = PasswordForm()
        first.add_error(None, "The sign-in took too long or was already used; sign in again.")
        return _render_password(request, context, first, pending["next"])
    except CustosError:
        form.add_error(None, "The code is wrong or was already used.")
        return _render_second(request, context, form, pending)
    request.session.pop(PENDING, None)
    return HttpResponseRedirect(pending["next"])


def _render_password(request: HttpRequest, context: dict[str, Any], form: PasswordForm, nxt: str,
                     status: int = 200) -> HttpResponse:
    return render(request, "admin/login.html", {**context, "form": form, "next": nxt,
                                                 "app_path": request.get_full_path()}, status=status)


def _render_second(request: HttpRequest, context: dict[str, Any], form: SecondFactorForm, pending: dict[str, Any],
                   status: int = 200) -> HttpResponse:
    return render(request, "admin/custos_second_factor.html",
                  {**context, "form": form, "next": pending["next"], "app_path": request.get_full_path(),
                   "title": "Second step"}, status=status)


SEEN = "custos_console_seen"  # session key: the time of the console session's last request


def idle_expired(request: HttpRequest) -> HttpResponse | None:
    """CUSTOS_CONSOLE_IDLE_TIMEOUT: a console session unused that long is over. Its next request
    signs it out (audited) and goes to the sign-in page, which returns to the page asked for."""
    import time

    from django.contrib import messages
    from django.contrib.auth import logout

    from .conf import conf

    user = getattr(request, "user", None)
    timeout = conf().console_idle_timeout
    if not timeout or not isinstance(user, User) or not user.is_authenticated:
        return None
    now, seen = int(time.time()), request.session.get(SEEN)
    if isinstance(seen, int) and now - seen > timeout:
        signin.console_signed_out(user=user)
        logout(request)
        messages.info(request, f"You were signed out after {timeout // 60} minutes without activity.")
        login_url = reverse("admin:login")
        return HttpResponseRedirect(f"{login_url}?next={request.get_full_path()}" if request.method == "GET"
                                    else login_url)
    if not isinstance(seen, int) or now - seen >= min(60, timeout):  # not a session write per click
        request.session[SEEN] = now
    return None


def signed_out(request: HttpRequest) -> None:
    """Before Django's logout: the console session's end goes into the audit trail."""
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated:
        signin.console_signed_out(user=user)


class PasswordChangeForm(forms.Form):
    """The fields Django's admin template renders; the checks are accounts' service's."""

    old_password = forms.CharField(max_length=4096, strip=False, label="Old password",
                                   widget=forms.PasswordInput(attrs={"autocomplete": "current-password",
                                                                     "autofocus": True}))
    new_password1 = forms.CharField(max_length=4096, strip=False, label="New password",
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    new_password2 = forms.CharField(max_length=4096, strip=False, label="New password confirmation",
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("new_password1") and data.get("new_password1") != data.get("new_password2"):
            self.add_error("new_password2", "The two password fields didn't match.")
        return data


def password_change(request: HttpRequest, *, context: dict[str, Any], done_url: str) -> HttpResponse:
    """The console's password change is the API's (accounts.services.password_change): the
    sign-in's per-account counter for the old password, the password rules with the account
    itself, every other session ended, the event and the owner's notice. This console session
    stays (its auth hash is renewed)."""
    from django.contrib.auth import update_session_auth_hash

    from accounts import services as account_services
    from audit.services import Actor

    form = PasswordChangeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            account_services.password_change(user_id=request.user.pk,
                                             current_password=form.cleaned_data["old_password"],
                                             new_password=form.cleaned_data["new_password1"], keep_session_id=None,
                                             actor=Actor.user(request.user.pk))
        except RateLimited as exc:
            form.add_error(None, _refusal(exc)[0])
            status = 429
        except CustosError as exc:
            fields = exc.fields or {}
            for name, messages in fields.items():
                target = "old_password" if name == "current_password" else "new_password1"
                for message in messages:
                    form.add_error(target, message)
            if not fields:
                form.add_error(None, exc.message)
        else:
            update_session_auth_hash(request, User.objects.get(pk=request.user.pk))
            return HttpResponseRedirect(done_url)
    return render(request, "registration/password_change_form.html",
                  {**context, "form": form, "title": "Password change"}, status=status)
