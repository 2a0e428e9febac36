"""The first-time setup page (docs/console.md): interface only. The link from `manage.py
setup_link` carries a signed token; the page trades it for a server-side session entry (so the
token leaves the address bar), shows a fresh authenticator secret, and one POST makes the first
superuser with that authenticator confirmed (accounts.services.setup). Then the page is a 404."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from custos.exceptions import CustosError, NotFound

from .security import mfa
from .services import setup

SESSION_KEY = "custos_setup"  # {"token", "key_hex", "otpauth_uri", "secret"}


class SetupForm(forms.Form):
    username = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"autofocus": True,
                                                                            "autocomplete": "username"}))
    email = forms.EmailField(max_length=128, required=False, label="Email (optional)")
    password1 = forms.CharField(max_length=4096, strip=False, label="Password",
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(max_length=4096, strip=False, label="Password again",
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    code = forms.CharField(max_length=6, min_length=6, label="Code from your authenticator app",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


def _page(request: HttpRequest, form: SetupForm, pending: dict[str, str], status: int = 200) -> HttpResponse:
    from segno import make

    qr = make(pending["otpauth_uri"], error="m").svg_inline(scale=4)
    return render(request, "admin/custos_setup.html",
                  {**admin.site.each_context(request), "title": "Set up Custos", "form": form, "qr_svg": qr,
                   "secret": pending["secret"]}, status=status)


@sensitive_post_parameters("password1", "password2", "code")
@csrf_protect
@never_cache
def setup_page(request: HttpRequest) -> HttpResponse:
    if not setup.setup_open():
        request.session.pop(SESSION_KEY, None)
        raise Http404()
    token = request.GET.get("token")
    if token is not None:
        try:
            setup.setup_link_check(token)
        except NotFound as exc:
            raise Http404() from exc
        except CustosError as exc:
            return render(request, "admin/custos_setup.html", {**admin.site.each_context(request),
                          "title": "Set up Custos", "refused": exc.message}, status=exc.status)
        secret = mfa.totp_secret_new(label="first superuser")
        request.session[SESSION_KEY] = {"token": token, "key_hex": secret["key_hex"],
                                        "otpauth_uri": secret["otpauth_uri"], "secret": secret["secret"]}
        return HttpResponseRedirect(reverse("console-setup"))
    pending = request.session.get(SESSION_KEY)
    if not pending:
        raise Http404()  # no link followed in this browser: nothing to show a stranger
    if request.method != "POST":
        return _page(request, SetupForm(), pending)
    form = SetupForm(request.POST)
    if not form.is_valid():
        return _page(request, form, pending, status=400)
    d = form.cleaned_data
    try:
        user, codes = setup.setup_complete(token=pending["token"], username=d["username"], email=d["email"],
                                           password=d["password1"], totp_key_hex=pending["key_hex"], code=d["code"])
    except setup.SetupGone as exc:
        request.session.pop(SESSION_KEY, None)
        raise Http404() from exc
    except mfa.MfaInvalid:
        form.add_error("code", "That code is not the one your app shows now; scan the code again and retry.")
        return _page(request, form, pending, status=400)
    except CustosError as exc:
        for name, messages in (exc.fields or {}).items():
            for message in messages:
                form.add_error(name if name in form.fields and name != "password" else
                               ("password1" if name == "password" else None), message)
        if not exc.fields:
            form.add_error(None, exc.message)
        return _page(request, form, pending, status=exc.status)
    request.session.pop(SESSION_KEY, None)
    return render(request, "admin/custos_setup_done.html",
                  {**admin.site.each_context(request), "title": "Custos is set up", "username": user.username,
                   "backup_codes": codes, "login_url": reverse("admin:login")})
