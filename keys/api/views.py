from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.http import require_GET

from keys.conf import conf
from keys.selectors import keyring


@require_GET
def jwks(request):
    """Plain Django view: the JWKS is hit by every verifier, so it skips DRF entirely."""
    body, etag = keyring().jwks_document()
    cache_control = f"public, max-age={conf().jwks_max_age}"
    if request.META.get("HTTP_IF_NONE_MATCH") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/jwk-set+json")
    response["Cache-Control"] = cache_control
    response["ETag"] = etag
    return response


@require_GET
def openid_configuration(request):
    issuer = settings.CUSTOS_ISSUER.rstrip("/")
    doc = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/internal/jwks.json",
        "token_endpoint": f"{issuer}/v1/auth/login",
        "introspection_endpoint": f"{issuer}/internal/introspect",
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "sub", "tid", "jti", "iat", "exp", "scope", "roles", "ver",
                             "sid", "amr", "auth_time"],
    }
    response = JsonResponse(doc)
    response["Cache-Control"] = f"public, max-age={conf().jwks_max_age}"
    return response
