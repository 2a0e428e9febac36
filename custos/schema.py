"""What the OpenAPI document (`/api/schema/`, docs/openapi.yaml) says beyond what drf-spectacular
reads from the views: the one error envelope and its codes, each operation's error answers,
and the plain Django paths outside DRF (JWKS, discovery, health).

Schema-only: nothing here runs on a request. A view method says which errors of its own it can
answer with `@raises("invalid_credentials", "rate_limited", ...)`; `postprocess` adds those,
and what every view of its kind can answer (401 where a token is read, 403 where a service key
is refused, 400 where a body is parsed), as `Error` responses. The code list is checked against
the code base by tests/test_openapi_contract.py."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# ---- the codes ---------------------------------------------------------------------------------
# code -> HTTP status. Every code an API answer may carry (API.md and docs/api-deviations.md).
ERROR_CODES: dict[str, int] = {
    "validation_error": 400, "oauth_state_invalid": 400, "reset_token_invalid": 400,
    "not_authenticated": 401, "invalid_credentials": 401, "token_invalid": 401, "token_expired": 401,
    "refresh_token_invalid": 401, "refresh_token_reused": 401, "otp_invalid": 401, "mfa_invalid": 401,
    "oauth_failed": 401, "merge_proof_invalid": 401,
    "reauth_required": 403, "account_disabled": 403, "permission_denied": 403, "email_unverified": 403,
    "login_denied": 403, "identity_mismatch": 403,
    "not_found": 404,
    "method_not_allowed": 405, "not_acceptable": 406,
    "conflict": 409, "already_exists": 409, "account_exists": 409, "identity_already_bound": 409,
    "last_login_method": 409, "merge_tenant_conflict": 409, "merge_self": 409, "merge_target_invalid": 409,
    "merge_primary_invalid": 409, "merge_type_conflict": 409, "merge_conflict": 409, "role_exists": 409,
    "builtin_role": 409, "user_not_in_tenant": 409, "mfa_already_enabled": 409, "mfa_not_enabled": 409,
    "rate_limited": 429,
    "internal_error": 500,
    "service_unavailable": 503, "signing_key_unavailable": 503,
    # answered in front of Django (custos/httperrors.py) for requests that are not valid HTTP
    "bad_request": 400, "uri_too_long": 414, "expectation_failed": 417, "headers_too_large": 431,
    "not_implemented": 501,
}
# Lifecycle moves refused in the account's (or tenant's) current state: cannot_<action>_<status>
# (accounts.services.lifecycle.TRANSITIONS, accounts.services.tenants), all 409.
_USER_STATUSES = ("active", "disabled", "locked", "deleted", "merged")
_USER_MOVES_FROM = {"freeze": ("active", "locked"), "activate": ("disabled",), "lock": ("active",),
                    "unlock": ("locked",), "delete": ("active", "disabled", "locked")}
USER_TRANSITION_CODES = tuple(f"cannot_{action}_{status}" for action, sources in _USER_MOVES_FROM.items()
                              for status in _USER_STATUSES if status not in sources)
TENANT_TRANSITION_CODES = ("cannot_disable_disabled", "cannot_enable_active")
ERROR_CODES.update(dict.fromkeys((*USER_TRANSITION_CODES, *TENANT_TRANSITION_CODES), 409))

_STATUS_TEXT = {400: "The request is not valid", 401: "Not authenticated, or the proof was refused",
                403: "Not allowed", 404: "Not found", 409: "Conflicts with the current state",
                429: "Rate limited: retry after `Retry-After` seconds", 503: "Unavailable: retry later"}

# What a view of each kind answers without saying so (the DRF authentication and permission
# classes, custos.parsers.StrictJSONParser).
TOKEN_ERRORS = ("not_authenticated", "token_invalid", "token_expired")
BAD_TOKEN_ERRORS = ("token_invalid", "token_expired")  # an optional token, presented and refused


def raises(*codes: str) -> Callable:
    """Declare the error codes a view method answers beyond those of its kind (schema only)."""
    unknown = [c for c in codes if c not in ERROR_CODES]
    if unknown:
        raise ValueError(f"unknown error codes {unknown}: add them to custos.schema.ERROR_CODES")

    def mark(fn: Callable) -> Callable:
        fn.custos_raises = tuple(dict.fromkeys((*getattr(fn, "custos_raises", ()), *codes)))
        return fn

    return mark


TOKEN_ISSUING = ("signing_key_unavailable",)  # a token pair needs an active signing key


def _list_params() -> list:
    from drf_spectacular.utils import OpenApiParameter

    from .pagination import DEFAULT_LIMIT, MAX_LIMIT

    return [OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
            OpenApiParameter("cursor", str, description="`next` of the previous page (opaque)")]


LIST_PARAMS = _list_params()  # every list's ?limit= and ?cursor= (custos/pagination.py)

# ---- components --------------------------------------------------------------------------------
_REF = "#/components/schemas/"
COMPONENTS: dict[str, dict[str, Any]] = {
    "ErrorCode": {"type": "string", "enum": sorted(ERROR_CODES),
                  "description": "Stable, machine-readable: clients key on it (API.md, docs/api-deviations.md)."},
    "ErrorDetail": {
        "type": "object", "required": ["code", "message"],
        "properties": {
            "code": {"$ref": _REF + "ErrorCode"},
            "message": {"type": "string", "description": "For people; may change."},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                       "description": "validation_error only: messages per field (`checks.3.object` for nested)."},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "Machine-readable reasons, e.g. `password_too_common`."},
        },
    },
    "Error": {
        "type": "object", "required": ["error", "request_id"],
        "description": "The one error envelope: every 4xx and 5xx answer of Custos has this body.",
        "properties": {"error": {"$ref": _REF + "ErrorDetail"},
                       "request_id": {"type": "string", "description": "X-Request-Id of the request."}},
    },
    "Jwk": {
        "type": "object", "required": ["kty", "kid", "alg", "use"], "additionalProperties": True,
        "properties": {"kty": {"type": "string", "enum": ["EC", "RSA"]}, "kid": {"type": "string"},
                       "alg": {"type": "string", "enum": ["ES256", "RS256"]},
                       "use": {"type": "string", "enum": ["sig"]},
                       "crv": {"type": "string"}, "x": {"type": "string"}, "y": {"type": "string"},
                       "n": {"type": "string"}, "e": {"type": "string"}},
    },
    "JwkSet": {"type": "object", "required": ["keys"],
               "properties": {"keys": {"type": "array", "items": {"$ref": _REF + "Jwk"}}}},
    "OpenIdConfiguration": {
        "type": "object", "additionalProperties": True,
        "required": ["issuer", "jwks_uri", "token_endpoint", "introspection_endpoint",
                     "id_token_signing_alg_values_supported", "token_endpoint_auth_methods_supported",
                     "response_types_supported", "subject_types_supported", "claims_supported"],
        "properties": {
            "issuer": {"type": "string"}, "jwks_uri": {"type": "string", "format": "uri"},
            "token_endpoint": {"type": "string", "format": "uri"},
            "introspection_endpoint": {"type": "string", "format": "uri"},
            **{k: {"type": "array", "items": {"type": "string"}} for k in (
                "id_token_signing_alg_values_supported", "token_endpoint_auth_methods_supported",
                "response_types_supported", "subject_types_supported", "claims_supported")},
        },
    },
    "Health": {"type": "object", "required": ["status"],
               "properties": {"status": {"type": "string", "enum": ["ok"]}}},
    "Readiness": {
        "type": "object", "required": ["status", "checks"],
        "properties": {"status": {"type": "string", "enum": ["ok", "fail"]},
                       "checks": {"type": "object", "description": "database, cache, signing_key, broker (when "
                                                                   "one is configured): each ok or fail",
                                  "additionalProperties": {"type": "string", "enum": ["ok", "fail"]}}},
    },
}


def error_response(codes: list[str]) -> dict[str, Any]:
    status = ERROR_CODES[codes[0]]
    listed = ", ".join(f"`{c}`" for c in codes)
    out: dict[str, Any] = {"description": f"{_STATUS_TEXT.get(status, 'Error')}: {listed}",
                           "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}}}
    if status == 429:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    if status == 401:
        out["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return out


# ---- the plain Django paths (config/urls.py, config/hot.py) -----------------------------------
def _json(ref: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + ref}}}, **extra}


_CACHED = {"Cache-Control": {"schema": {"type": "string"}, "description": "public, max-age=<JWKS cache TTL>"}}


def _jwks(operation_id: str) -> dict[str, Any]:
    return {"get": {
        "operationId": operation_id, "tags": ["keys"], "security": [{}],
        "summary": "The public signing keys (JWKS): verify access tokens offline with these alone",
        "description": "Published keys (the next key before it signs, retired ones while tokens they signed "
                       "live). Served in front of Django (config/hot.py): send If-None-Match with the ETag.",
        "parameters": [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "The key set", "headers": {**_CACHED, "ETag": {"schema": {"type": "string"}}},
                    "content": {"application/jwk-set+json": {"schema": {"$ref": _REF + "JwkSet"}}}},
            "304": {"description": "Not modified (the ETag matched)", "headers": _CACHED},
        }}}


EXTRA_PATHS: dict[str, dict[str, Any]] = {
    "/internal/jwks.json": _jwks("internal_jwks_retrieve"),
    "/.well-known/jwks.json": _jwks("well_known_jwks_retrieve"),
    "/.well-known/openid-configuration": {"get": {
        "operationId": "well_known_openid_configuration_retrieve", "tags": ["keys"], "security": [{}],
        "summary": "Issuer and jwks_uri metadata for token verifiers",
        "responses": {"200": _json("OpenIdConfiguration", "Discovery metadata", headers=_CACHED)}}},
    "/healthz": {"get": {
        "operationId": "healthz_retrieve", "tags": ["operations"], "security": [{}],
        "summary": "Liveness: the process answers",
        "responses": {"200": _json("Health", "Alive")}}},
    "/readyz": {"get": {
        "operationId": "readyz_retrieve", "tags": ["operations"], "security": [{}],
        "summary": "Readiness: database, cache, an active signing key (and the broker when one is configured)",
        "responses": {"200": _json("Readiness", "Ready: every check ok"),
                      "503": _json("Readiness", "Not ready: at least one check failed")}}},
}


# ---- the hook ----------------------------------------------------------------------------------
_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def _kind_errors(view_cls: type, has_body: bool) -> list[str]:
    from rest_framework.permissions import AllowAny

    from .permissions import IsUserPrincipal

    perms = list(view_cls.permission_classes)
    codes: list[str] = []
    if has_body:
        codes.append("validation_error")
    if view_cls.authentication_classes:
        public = any(p is AllowAny for p in perms)
        codes += BAD_TOKEN_ERRORS if public else TOKEN_ERRORS
        if any(issubclass(p, IsUserPrincipal) for p in perms):
            codes.append("permission_denied")  # a service key: services have no "me"
    return codes


def _user_only(view_cls: type) -> bool:
    from .permissions import IsUserPrincipal

    return any(isinstance(p, type) and issubclass(p, IsUserPrincipal) for p in view_cls.permission_classes)


def postprocess(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: error responses, components, the plain paths."""
    paths = result.setdefault("paths", {})
    for path, _regex, method, callback in generator.endpoints:
        view_cls = getattr(callback, "cls", None)
        operation = paths.get("/" + _CONVERTER.sub(r"{\1}", path).lstrip("/"), {}).get(method.lower())
        if view_cls is None or operation is None:
            continue
        fn = getattr(view_cls, method.lower(), None)
        codes = [*_kind_errors(view_cls, "requestBody" in operation), *getattr(fn, "custos_raises", ())]
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(codes):
            by_status.setdefault(ERROR_CODES[code], []).append(code)
        responses = operation.setdefault("responses", {})
        for status in sorted(by_status):
            responses.setdefault(str(status), error_response(by_status[status]))
        if _user_only(view_cls):
            # a service key is refused (403): only an end user's access token opens it
            operation["security"] = [{"BearerAuth": []}]
    for path, item in EXTRA_PATHS.items():
        paths.setdefault(path, item)
    result["paths"] = dict(sorted(paths.items()))
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(COMPONENTS)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
