"""POST /v1/auth/login and /v1/auth/refresh without DRF's dispatch (listed in config/hot.py;
the mechanism is custos/fastview.py).

Only a well-formed body takes the lean path: a JSON object whose fields are strings the
serializers would accept unchanged. Anything else (a wrong media type, malformed JSON, a
missing, blank, oversized or non-string field, NUL or lone surrogates) goes to the DRF view,
so every refusal keeps the exact envelope and messages the serializers give."""
from __future__ import annotations

from django.http import HttpRequest

from custos.fastview import json_response, lean
from custos.parsers import json_object
from sessions_app import services, signin

from .views import LoginView, RefreshView, token_response

_drf_login = LoginView.as_view()
_drf_refresh = RefreshView.as_view()


def _fields(request: HttpRequest, limits: dict[str, int]) -> dict[str, str] | None:
    """The named string fields of a body the DRF serializer would take as they are, or None."""
    if request.content_type != "application/json" or \
            request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None
    try:
        data = json_object(request.body)
    except ValueError:
        return None
    out = {}
    for name, limit in limits.items():
        value = data.get(name)
        if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
            return None
        try:
            value.encode("utf-8")  # a lone surrogate: the serializer's message, not ours
        except UnicodeEncodeError:
            return None
        out[name] = value
    return out


@lean(("POST",), _drf_login)
def login_password(request):
    body = _fields(request, {"username": 254, "password": 4096})
    if body is None:
        return _drf_login(request)
    signed = signin.password(identifier=body["username"], password=body["password"])
    return token_response(signin.api_answer(signed), json_response)


@lean(("POST",), _drf_refresh)
def refresh(request):
    body = _fields(request, {"refresh_token": 512})
    if body is None:
        return _drf_refresh(request)
    return token_response(services.refresh_rotate(raw=body["refresh_token"]), json_response)
