"""The mechanism of the lean views (config/hot.py lists them, each with its reason). DRF's
dispatch (request wrapping, negotiation, authentication and permission loops, response
finalization) costs more than these endpoints' own work; these views call the same
authentication functions, selectors and error envelope directly. The DRF views stay for
every other method and for the OpenAPI schema."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.renderers import JSONRenderer

from .exceptions import CustosError, envelope

# DRF's renderer, so the bytes are the DRF views' bytes (datetimes, Unicode, separators)
render = JSONRenderer().render


def json_response(data: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(render(data), status=status, content_type="application/json")


def error_response(exc: CustosError) -> JsonResponse:
    response = JsonResponse(envelope(exc.code, exc.message, exc.fields, exc.reasons), status=exc.status,
                            json_dumps_params={"separators": (",", ":")})
    for key, value in exc.headers.items():
        response[key] = value
    if exc.status == 401:
        response.setdefault("WWW-Authenticate", 'Bearer realm="custos"')
    return response


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object in the body, by the rules of custos.parsers.StrictJSONParser."""
    from .exceptions import ValidationFailed
    from .parsers import json_object

    if request.content_type != "application/json":
        raise ValidationFailed(f'Unsupported media type "{request.content_type}" in request.')
    try:
        return json_object(request.body)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc


def lean(methods: tuple[str, ...], fallback: Callable) -> Callable:
    """Serve `methods` with the decorated function; send every other method to the DRF view."""

    def wrap(fn: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return fallback(request, *args, **kwargs)
            try:
                return fn(request, *args, **kwargs)
            except CustosError as exc:
                return error_response(exc)

        view.csrf_exempt = True  # bearer tokens and service keys, no cookies
        view.__name__ = fn.__name__
        view.lean_methods = methods
        return view

    return wrap
