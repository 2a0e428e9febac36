"""One error envelope for every failure:
{"error": {"code", "message", "fields"?}, "request_id"}."""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exc
from rest_framework.response import Response

from . import context

log = logging.getLogger("custos.errors")


class CustosError(Exception):
    """Base of every error a service raises on purpose. `code` is stable: clients key on it."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None,
                 fields: dict[str, list[str]] | None = None, headers: dict[str, str] | None = None,
                 reasons: list[str] | None = None) -> None:
        self.message = message or self.message
        self.reasons = reasons
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(CustosError):
    status, code, message = 400, "validation_error", "The request is not valid."


class NotAuthenticated(CustosError):
    status, code, message = 401, "not_authenticated", "Authentication credentials were not provided."


class InvalidCredentials(CustosError):
    status, code, message = 401, "invalid_credentials", "The username or password is incorrect."


class TokenInvalid(CustosError):
    status, code, message = 401, "token_invalid", "The access token is not valid."


class TokenExpired(CustosError):
    status, code, message = 401, "token_expired", "The access token has expired."


class PermissionDeniedError(CustosError):
    status, code, message = 403, "permission_denied", "You do not have permission to do this."


class AccountDisabled(CustosError):
    status, code, message = 403, "account_disabled", "This account is disabled."


class NotFound(CustosError):
    status, code, message = 404, "not_found", "Not found."


class Conflict(CustosError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class ServiceUnavailable(CustosError):
    status, code, message = 503, "service_unavailable", "The service cannot answer right now; retry later."


class RateLimited(CustosError):
    status, code, message = 429, "rate_limited", "Too many requests; retry later."


def envelope(code: str, message: str, fields: dict[str, Any] | None = None,
             reasons: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    if reasons:  # machine-readable why, e.g. ["password_too_short", "password_too_common"]
        body["error"]["reasons"] = reasons
    body["request_id"] = context.current().request_id
    return body


def _flatten_fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten_fields(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                out[str(key)] = [str(v) if not isinstance(v, (dict, list)) else "invalid" for v in value]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, CustosError):
        status, body, headers = exc.status, envelope(exc.code, exc.message, exc.fields, exc.reasons), exc.headers
    elif isinstance(exc, drf_exc.ValidationError):
        status, body = 400, envelope("validation_error", "The request is not valid.", _flatten_fields(exc.detail))
    elif isinstance(exc, (drf_exc.ParseError, drf_exc.UnsupportedMediaType, RequestDataTooBig)):
        message = "The request body is too large." if isinstance(exc, RequestDataTooBig) else str(
            getattr(exc, "detail", "Malformed request body."))
        status, body = 400, envelope("validation_error", message)
    elif isinstance(exc, drf_exc.NotAuthenticated):
        status, body = 401, envelope("not_authenticated", "Authentication credentials were not provided.")
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, drf_exc.AuthenticationFailed):
        status, body = 401, envelope("token_invalid", str(exc.detail))
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, (drf_exc.PermissionDenied, DjangoPermissionDenied)):
        status, body = 403, envelope("permission_denied", "You do not have permission to do this.")
    elif isinstance(exc, (drf_exc.NotFound, Http404)):
        status, body = 404, envelope("not_found", "Not found.")
    elif isinstance(exc, drf_exc.MethodNotAllowed):
        status, body = 405, envelope("method_not_allowed", str(exc.detail))
    elif isinstance(exc, drf_exc.NotAcceptable):
        status, body = 406, envelope("not_acceptable", str(exc.detail))
    elif isinstance(exc, drf_exc.Throttled):
        status, body = 429, envelope("rate_limited", "Too many requests; retry later.")
        if exc.wait:
            headers["Retry-After"] = str(int(exc.wait) + 1)
    elif isinstance(exc, drf_exc.APIException):
        status, body = exc.status_code, envelope(getattr(exc, "default_code", "error"), str(exc.detail))
    else:
        return None  # a real bug: let Django log it and answer through handler500
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="custos"')
    response = Response(body, status=status)
    for key, value in headers.items():
        response[key] = value
    return response


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(envelope(code, message), status=status)


def handler400(request, exception=None):
    return json_error(400, "validation_error", "Bad request.")


# The console and its first-time setup: refusals in the console's look (below), requests logged
# with the staff member's id and sent with the console's CSP (custos.middleware).
CONSOLE_PREFIXES = ("/admin/", "/setup/")


def _console_page(request, status: int, title: str, text: str):
    """A console refusal is a page in the console's own look, not the API's JSON."""
    from django.contrib import admin
    from django.shortcuts import render

    return render(request, "admin/custos_refused.html",
                  {**admin.site.each_context(request), "title": title, "text": text}, status=status)


def handler403(request, exception=None):
    if request.path_info.startswith(CONSOLE_PREFIXES):
        return _console_page(request, 403, "Not allowed",
                             "Your account may not do this. Ask a platform administrator for the role that allows it.")
    return json_error(403, "permission_denied", "You do not have permission to do this.")


def handler404(request, exception=None):
    if request.path_info.startswith(CONSOLE_PREFIXES):
        return _console_page(request, 404, "Not found",
                             "There is no such page in the console. It may have been removed, or the link is wrong.")
    return json_error(404, "not_found", "Not found.")


def handler500(request):
    return json_error(500, "internal_error", "An internal error occurred.")
