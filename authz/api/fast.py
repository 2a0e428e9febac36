"""POST /v1/authz/check without DRF's dispatch (see custos/fastview.py)."""
from __future__ import annotations

from types import SimpleNamespace

from authz.authentication import principal_from_api_key
from custos.exceptions import NotAuthenticated
from custos.fastview import json_body, json_response, lean
from sessions_app.authentication import principal_from_bearer

from .views import CheckView, check_answer

_drf_check = CheckView.as_view()


@lean(("POST",), _drf_check)
def check(request):  # noqa: ANN001, ANN201
    # the DRF view's order: a bearer token, else a service key
    principal = principal_from_bearer(request) or principal_from_api_key(request)
    if principal is None:
        raise NotAuthenticated()
    return json_response(check_answer(SimpleNamespace(user=principal), json_body(request)))
