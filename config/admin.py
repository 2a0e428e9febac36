"""The staff console: Django's admin, with Custos's door. Its sign-in is the one sign-in flow
(sessions_app.console -> sessions_app.signin, console channel): the same brute-force counters,
risk rules, second factor, login history and audit as the API."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters


class CustosAdminSite(admin.AdminSite):
    site_header = "Custos console"
    site_title = "Custos console"
    index_title = "Staff console"

    @method_decorator(sensitive_post_parameters("password", "code"))
    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from sessions_app import console

        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        request.current_app = self.name
        context = {**self.each_context(request), "title": "Log in", "subtitle": None,
                   "username": request.user.get_username(), **(extra_context or {})}
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        return console.login(request, context=context)

    @method_decorator(sensitive_post_parameters("old_password", "new_password1", "new_password2"))
    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from sessions_app import console

        request.current_app = self.name
        context = {**self.each_context(request), **(extra_context or {})}
        return console.password_change(request, context=context,
                                       done_url=reverse("admin:password_change_done", current_app=self.name))

    def admin_view(self, view, cacheable: bool = False):
        """Every console page, first: a session idle past CUSTOS_CONSOLE_IDLE_TIMEOUT is over."""
        from functools import update_wrapper

        from sessions_app import console

        inner = super().admin_view(view, cacheable)

        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return console.idle_expired(request) or inner(request, *args, **kwargs)

        return update_wrapper(checked, inner)

    def logout(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from sessions_app import console

        if request.method == "POST":
            console.signed_out(request)
        return super().logout(request, extra_context)
