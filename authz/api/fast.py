"""POST /v1/authz/check without DRF's dispatch (see custos/fastview.py)."""
from __future__ import annotations

from types import SimpleNamespace

from django.http import HttpResponse

from authz.authentication import principal_from_api_key
from custos.exceptions import NotAuthenticated
from custos.fastview import json_body, lean, render
from sessions_app.authentication import principal_from_bearer

from .views import CheckView, check_answer

_drf_check = CheckView.as_view()
# There are two answers: rendered once, by the renderer the DRF view uses, so the bytes match.
_ANSWER = {allowed: render({"allowed": allowed}) for allowed in (True, False)}


@lean(("POST",), _drf_check)
def check(request):  # noqa: ANN001, ANN201
    # the DRF view's order: a bearer token, else a service key
    principal = principal_from_bearer(request) or principal_from_api_key(request)
    if principal is None:
        raise NotAuthenticated()
    answer = check_answer(SimpleNamespace(user=principal), json_body(request))
    return HttpResponse(_ANSWER[answer["allowed"] is True], content_type="application/json")
