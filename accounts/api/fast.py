"""GET /v1/users/me without DRF's dispatch (listed in config/hot.py; the mechanism is custos/fastview.py)."""
from __future__ import annotations

from django.http import HttpResponse

from accounts import selectors
from authz.authentication import principal_from_api_key
from custos.exceptions import NotAuthenticated, NotFound, PermissionDeniedError
from custos.fastview import lean
from sessions_app.authentication import principal_from_bearer

from .views.profile import MeView

_drf_me = MeView.as_view()


@lean(("GET",), _drf_me)
def me(request):
    principal = principal_from_bearer(request)
    if principal is None:
        if principal_from_api_key(request) is not None:
            raise PermissionDeniedError()  # services have no "me"
        raise NotAuthenticated()
    raw = selectors.user_me_json(user_id=principal.id, tenant_id=principal.tenant_id)
    if raw is None:
        raise NotFound()
    return HttpResponse(raw, content_type="application/json")
