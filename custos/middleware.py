from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.dispatch import Signal

from . import context
from .exceptions import CONSOLE_PREFIXES, json_error
from .netutil import client_ip

log = logging.getLogger("custos.request")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# What SecurityMiddleware and XFrameOptionsMiddleware would add, set here in one place.
# no-referrer (OWASP ASVS 3.4): nothing here has a reason to tell even our own pages where a
# click came from, and a URL of the admin or the docs is never worth leaking.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "no-referrer"), ("Cross-Origin-Opener-Policy", "same-origin"))


# Sent for every 403 answer, inside the request's context (its id, client address and user
# agent), with kwargs request and response. custos imports no room: authz receives it and
# records authorization denials in the audit trail (authz.denials). A receiver's failure is
# logged, never the request's: the client gets its 403 whatever the recording does.
request_denied = Signal()


# The API, the console and its first-time setup, and liveness; not static files or /metrics.
LOGGED_PREFIXES = ("/v1/", "/internal/", "/healthz", "/admin/", "/setup/")


def _user_id(request, response) -> int | None:
    """Who the request was for: the bearer token's user (set by the authentication), the user a
    sign-in or refresh issued tokens to (on the response: those endpoints authenticate nobody),
    or the console's signed-in user."""
    user_id = getattr(request, "custos_user_id", None)
    if user_id is None:
        user_id = getattr(response, "custos_user_id", None)
    if user_id is None and request.path.startswith(CONSOLE_PREFIXES):
        user = getattr(request, "user", None)
        user_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    return user_id


class RequestContextMiddleware:
    """Request id, client address, user agent and device id for everything downstream;
    refuses oversized bodies before anything parses them."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.max_body = settings.CUSTOS_MAX_BODY_BYTES
        self.body_limits = dict(getattr(settings, "CUSTOS_BODY_LIMITS", {}))
        seconds = settings.CUSTOS_HSTS_SECONDS
        self.hsts = f"max-age={seconds}; includeSubDomains" if seconds > 0 else ""

    def __call__(self, request):
        started = time.perf_counter()
        meta = request.META
        incoming = meta.get("HTTP_X_REQUEST_ID", "")
        # An id we cannot trust to be log-safe is replaced, not echoed.
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        ctx = context.RequestContext(
            request_id=request_id,
            ip=client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR")),
            user_agent=meta.get("HTTP_USER_AGENT", "")[:255],
            device_id=meta.get("HTTP_X_DEVICE_ID", "")[:128],
        )
        token = context.set_current(ctx)
        try:
            try:
                length = int(meta.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0:
                response = json_error(400, "validation_error", "Invalid Content-Length.")
            elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get("CONTENT_LENGTH"):
                # WSGI hands Django no length for a chunked body and Django would read it as
                # empty: refuse it rather than act on a request we did not see.
                response = json_error(400, "validation_error",
                                      "Send a Content-Length; chunked bodies are not accepted.")
            elif length > self.body_limits.get(request.path_info, self.max_body):
                response = json_error(400, "validation_error", "The request body is too large.")
            else:
                response = self.get_response(request)
                if response.status_code == 403:
                    for receiver, error in request_denied.send_robust(sender=None, request=request,
                                                                      response=response):
                        if error is not None:
                            log.warning("denial not recorded", extra={"receiver": getattr(
                                receiver, "__qualname__", "?"), "error": type(error).__name__})
            response["X-Request-Id"] = request_id
            for header, value in SECURITY_HEADERS:
                if header not in response:
                    response[header] = value
            if self.hsts and request.is_secure():
                response["Strict-Transport-Security"] = self.hsts
            if request.path.startswith(LOGGED_PREFIXES):
                # the path only, never the query string: the setup link's token travels there
                log.info("request", extra={
                    "method": request.method, "path": request.path, "status": response.status_code,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": _user_id(request, response),
                })
            return response
        finally:
            context.reset(token)


class NullOriginMiddleware:
    """Lets Django's CSRF protection work on pages served with `Referrer-Policy: no-referrer`.

    Under that policy a browser sends `Origin: null` with every form POST, even to the page's
    own origin (Fetch, "serializing a request origin"), and Django's CSRF check refuses a
    null Origin. The same browsers say where a request came from in `Sec-Fetch-Site`, a header
    no page can set: when it says `same-origin`, the null Origin is replaced by this site's
    origin before the check. The CSRF token is required as before; any other null Origin is
    left for Django to refuse."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if meta.get("HTTP_ORIGIN") == "null" and meta.get("HTTP_SEC_FETCH_SITE") == "same-origin":
            try:
                meta["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"
            except DisallowedHost:
                pass  # a host we do not serve: Django answers it
        return self.get_response(request)


# The console's pages run no script but the admin's own files: an injected <script> or handler
# attribute does not run, and nothing is sent or framed elsewhere. Inline style attributes stay
# allowed (the admin's templates use them; they run no code). Not on /api/docs: Swagger UI starts
# itself with an inline script.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
               "form-action 'self'")
ADMIN_PREFIXES = ("/admin", "/setup/", "/static/", "/api/docs")  # the console, its first-time setup, docs
ADMIN_STACK = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "custos.middleware.NullOriginMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


class AdminStackMiddleware:
    """Static files, sessions, CSRF, auth and messages serve the Django admin (and the docs
    page) only; the API authenticates with bearer tokens and service keys. Each middleware
    layer costs every request something even when it does nothing, so the API's requests
    skip this stack entirely and the admin's run it as Django would."""

    def __init__(self, get_response):
        from django.core.handlers.exception import convert_exception_to_response
        from django.utils.module_loading import import_string

        self.get_response = get_response
        handler = get_response
        for dotted in reversed(ADMIN_STACK):
            handler = convert_exception_to_response(import_string(dotted)(handler))
        self.admin = handler

    def __call__(self, request):
        if request.path_info.startswith(ADMIN_PREFIXES):
            response = self.admin(request)
            if request.path_info.startswith(CONSOLE_PREFIXES):
                response.setdefault("Content-Security-Policy", CONSOLE_CSP)
            return response
        return self.get_response(request)
