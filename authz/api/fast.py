"""POST /v1/authz/check and /v1/authz/check-batch without DRF's dispatch (listed in
config/hot.py; the mechanism is custos/fastview.py)."""
from __future__ import annotations

from types import SimpleNamespace

from django.http import HttpResponse

from authz.authentication import principal_from_api_key
from custos.exceptions import NotAuthenticated
from custos.fastview import json_body, json_response, lean, render
from sessions_app.authentication import principal_from_bearer

from .views import CheckBatchView, CheckView, check_answer, check_batch_answer

_drf_check = CheckView.as_view()
_drf_check_batch = CheckBatchView.as_view()
# There are two answers: rendered once, by the renderer the DRF view uses, so the bytes match.
_ANSWER = {allowed: render({"allowed": allowed}) for allowed in (True, False)}


def _caller(request):
    # the DRF views' order: a bearer token, else a service key
    principal = principal_from_bearer(request) or principal_from_api_key(request)
    if principal is None:
        raise NotAuthenticated()
    return SimpleNamespace(user=principal)


@lean(("POST",), _drf_check)
def check(request):
    answer = check_answer(_caller(request), json_body(request))
    return HttpResponse(_ANSWER[answer["allowed"] is True], content_type="application/json")


@lean(("POST",), _drf_check_batch)
def check_batch(request):
    return json_response(check_batch_answer(_caller(request), json_body(request)))
