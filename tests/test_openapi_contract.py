"""The served OpenAPI document is a contract a client can be generated from (issue 19): it is
valid OpenAPI, every operation declares its error answers in the one envelope, every code the
service can answer is in the ErrorCode enum, every body is typed, the plain Django paths are
described, and real answers match what the document says they are."""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from custos.schema import ERROR_CODES
from tests.conftest import bearer, grant, login
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parent.parent
TOKEN_CODES = {"not_authenticated", "token_invalid", "token_expired"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        r = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    return json.loads(r.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            yield path, method, op


def _codes(response: dict) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", response.get("description", "")))


def test_the_served_schema_is_valid_openapi(schema):
    validate_spec(schema)


def test_every_error_answer_is_the_envelope_and_names_its_codes(schema):
    envelope = {"$ref": "#/components/schemas/Error"}
    for path, method, op in operations(schema):
        for status, response in op["responses"].items():
            if int(status) < 400 or path == "/readyz":
                continue
            assert response["content"]["application/json"]["schema"] == envelope, (path, method, status)
            codes = _codes(response)
            assert codes, (path, method, status)
            assert all(ERROR_CODES[c] == int(status) for c in codes), (path, method, status, codes)


def test_every_operation_declares_the_errors_of_its_kind(schema):
    for path, method, op in operations(schema):
        responses, security = op["responses"], op.get("security", [])
        if path in ("/healthz", "/readyz") or path.endswith("jwks.json") or "openid" in path:
            continue
        assert any(int(s) >= 400 for s in responses), f"{method} {path} declares no error"
        public = security == [{}]
        if public:  # nobody is authenticated here: no token codes, and a 401 only for a refused proof
            assert not (_codes(responses.get("401", {})) & TOKEN_CODES), (method, path)
        else:
            assert TOKEN_CODES & _codes(responses["401"]), (method, path)
        if "requestBody" in op:
            assert "validation_error" in _codes(responses["400"]), (method, path)
        if any(p["in"] == "query" and p["name"] in ("limit", "cursor") for p in op.get("parameters", [])):
            assert "validation_error" in _codes(responses["400"]), (method, path)
        if security == [{"BearerAuth": []}]:  # an end user's token only: a service key is refused
            assert "permission_denied" in _codes(responses["403"]), (method, path)


def test_rate_limits_are_declared_where_they_apply_and_only_there(schema):
    limited = {(m, p) for p, m, op in operations(schema) if "429" in op["responses"]}
    for must in [("post", "/v1/auth/login"), ("post", "/v1/auth/register"), ("post", "/v1/auth/otp/send"),
                 ("post", "/v1/auth/otp/verify"), ("post", "/v1/auth/mfa/verify"),
                 ("post", "/v1/auth/password/reset/request"), ("post", "/v1/auth/reauth"),
                 ("post", "/v1/oauth/{provider}/callback")]:
        assert must in limited
    for never in [("post", "/v1/auth/refresh"), ("get", "/v1/users/me"), ("post", "/v1/authz/check"),
                  ("get", "/v1/sessions"), ("get", "/v1/admin/users"), ("post", "/v1/auth/logout")]:
        assert never not in limited
    for _path, _method, op in operations(schema):
        if "429" in op["responses"]:
            assert "Retry-After" in op["responses"]["429"]["headers"]


def test_the_login_answers_a_typed_refusal(schema):
    """The issue's case: a client generated from the schema returned None for a 401 login."""
    op = schema["paths"]["/v1/auth/login"]["post"]
    assert {"invalid_credentials"} <= _codes(op["responses"]["401"])
    assert {"account_disabled", "email_unverified", "login_denied"} <= _codes(op["responses"]["403"])
    assert op["security"] == [{}]
    refresh = schema["paths"]["/v1/auth/refresh"]["post"]["responses"]
    assert {"refresh_token_invalid", "refresh_token_reused"} == _codes(refresh["401"])


# ---- the codes -----------------------------------------------------------------------------------
def _documented_codes(text: str) -> set[str]:
    """`code` NNN and NNN `code` (and `NNN code`) in API.md's and the deviations' prose."""
    found = set(re.findall(r"`([a-z][a-z_]+)` \d{3}\b", text))
    found |= set(re.findall(r"\b\d{3} `?([a-z][a-z_]+)`?", text))
    return {c for c in found if "_" in c or c in ("conflict",)}


def test_every_code_in_api_md_is_in_the_enum(schema):
    enum = set(schema["components"]["schemas"]["ErrorCode"]["enum"])
    api_md = Path("/work/shared/API.md")
    texts = [(ROOT / "docs" / "api-deviations.md").read_text()]
    if api_md.exists():
        texts.append(api_md.read_text())
    documented = set().union(*(_documented_codes(t) for t in texts))
    documented -= {c for c in documented if c.startswith("cannot_")}  # `cannot_<action>_<status>`: a pattern
    for must in ("validation_error", "invalid_credentials", "refresh_token_reused", "rate_limited",
                 "merge_tenant_conflict", "account_exists", "email_unverified", "signing_key_unavailable"):
        assert must in documented, must  # the parser above reads the documents
    assert documented <= enum, documented - enum
    assert {"cannot_freeze_disabled", "cannot_unlock_active", "cannot_enable_active"} <= enum


def _custos_error_classes() -> list[type]:
    from custos.exceptions import CustosError

    for path in ROOT.glob("*/errors.py"):
        importlib.import_module(f"{path.parent.name}.errors")
    for module in ("keys.backends", "authz.authentication", "accounts.security.mfa", "accounts.services.reauth"):
        importlib.import_module(module)
    out, todo = [], [CustosError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


CONSOLE_ONLY = {"setup_link_invalid", "no_email", "not_resettable"}  # the staff console's pages, not the API


def test_every_code_the_service_raises_is_in_the_enum_with_its_status():
    from accounts.services.lifecycle import TRANSITIONS

    for cls in _custos_error_classes():
        if cls.code in CONSOLE_ONLY:
            continue
        assert cls.code in ERROR_CODES, cls
        assert ERROR_CODES[cls.code] == cls.status, (cls, cls.status)
    # codes given at the raise: Conflict(..., code="…") and friends
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or path.parts[len(ROOT.parts)] == "node_modules":
            continue
        for code in re.findall(r"(?:Conflict|CustosError|NotFound|PermissionDeniedError)\([^)]*code=\"([a-z_]+)\"",
                               path.read_text()):
            assert code in ERROR_CODES or code in CONSOLE_ONLY, (path, code)
    statuses = {"active", "disabled", "locked", "deleted", "merged"}
    for action, (sources, *_rest) in TRANSITIONS.items():
        for status in statuses - set(sources):
            assert ERROR_CODES[f"cannot_{action}_{status}"] == 409


# ---- bodies ---------------------------------------------------------------------------------------
FREE_FORM = {"Profile.extra", "PatchedProfileChangeRequest.extra", "AuditEvent.metadata"}


def _untyped(schema: dict, node: dict, where: str, seen: frozenset = frozenset()) -> list[str]:
    components = schema["components"]["schemas"]
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return [] if name in seen else _untyped(schema, components[name], name, seen | {name})
    out: list[str] = []
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(key, []):
            out += _untyped(schema, sub, where, seen)
    if not node or (node.get("type") == "object" and not node.get("properties")
                    and node.get("additionalProperties") in (None, True, {})):
        if where not in FREE_FORM:
            out.append(where)
    for name, prop in node.get("properties", {}).items():
        out += _untyped(schema, prop, f"{where}.{name}" if "." not in where else where, seen)
    if node.get("type") == "array":
        out += _untyped(schema, node.get("items", {}), where, seen)
    if isinstance(node.get("additionalProperties"), dict) and node["additionalProperties"]:
        out += _untyped(schema, node["additionalProperties"], where, seen)
    return out


def test_every_body_is_typed_and_named_readably(schema):
    untyped = []
    for path, method, op in operations(schema):
        bodies = [c["schema"] for c in op.get("requestBody", {}).get("content", {}).values()]
        bodies += [c["schema"] for r in op["responses"].values() for ct, c in r.get("content", {}).items()
                   if ct == "application/json" or ct.endswith("+json")]
        for body in bodies:
            untyped += [f"{method} {path}: {w}" for w in _untyped(schema, body, "body")]
    assert not untyped, untyped
    names = set(schema["components"]["schemas"])
    assert not [n for n in names if n.endswith("RequestRequest") or n in ("Object", "PatchedObjectRequest")]
    assert {"Error", "ErrorCode", "TokenPair", "MfaChallenge", "Me", "AdminUser", "Tenant", "Session"} <= names


# ---- the plain Django paths, and real answers against the document --------------------------------
def _resolved(schema: dict, node):
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(schema, schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        return {k: _resolved(schema, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(schema, v) for v in node]
    return node


def assert_documented(schema: dict, path: str, method: str, response) -> None:
    """The answer's status is declared for the operation and its body matches the declared schema."""
    op = schema["paths"][path][method]
    declared = op["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {path} answered an undeclared {response.status_code}"
    content = declared.get("content")
    if not content:
        return
    media = response["Content-Type"].split(";")[0]
    body_schema = _resolved(schema, content[media]["schema"])
    errors = list(OAS30Validator(body_schema).iter_errors(json.loads(response.content)))
    assert not errors, (method, path, response.status_code, [e.message for e in errors][:5])


@pytest.mark.django_db(transaction=True)
def test_real_answers_match_the_document(api, schema, signing_key, settings):
    from audit.services import Actor
    from authz.services import service_key_create, subject_role_grant

    staff = UserFactory()
    grant(staff, "platform_admin")
    user = UserFactory()
    staff_h = bearer(login(api, staff.username)["access_token"])
    pair = login(api, user.username)
    me_h = bearer(pair["access_token"])
    check = assert_documented

    check(schema, "/v1/auth/login", "post", api.post("/v1/auth/login", {"username": user.username,
                                                                       "password": PASSWORD}, format="json"))
    check(schema, "/v1/auth/login", "post", api.post("/v1/auth/login", {"username": user.username,
                                                                       "password": "wrong"}, format="json"))
    check(schema, "/v1/auth/login", "post", api.post("/v1/auth/login", {"username": 5}, format="json"))
    check(schema, "/v1/auth/refresh", "post", api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
                                                       format="json"))
    check(schema, "/v1/auth/refresh", "post", api.post("/v1/auth/refresh", {"refresh_token": "x" * 43},
                                                       format="json"))
    check(schema, "/v1/users/me", "get", api.get("/v1/users/me", **me_h))  # the lean path
    check(schema, "/v1/users/me", "get", api.get("/v1/users/me"))
    check(schema, "/v1/users/me", "patch", api.patch("/v1/users/me", {"nickname": "Al"}, format="json", **me_h))
    check(schema, "/v1/sessions", "get", api.get("/v1/sessions?limit=1", **me_h))
    check(schema, "/v1/users/me/logins", "get", api.get("/v1/users/me/logins", **me_h))
    check(schema, "/v1/admin/users", "get", api.get("/v1/admin/users", **staff_h))
    check(schema, "/v1/admin/users", "get", api.get("/v1/admin/users", **me_h))
    check(schema, "/v1/admin/users/{user_id}", "get", api.get(f"/v1/admin/users/{user.pk}", **staff_h))
    check(schema, "/v1/admin/users/{user_id}/freeze", "post",
          api.post(f"/v1/admin/users/{user.pk}/freeze", {}, format="json", **staff_h))
    check(schema, "/v1/admin/users/{user_id}/freeze", "post",
          api.post(f"/v1/admin/users/{user.pk}/freeze", {}, format="json", **staff_h))  # 409 cannot_freeze_disabled
    check(schema, "/v1/admin/tenants", "post", api.post("/v1/admin/tenants", {"name": "Acme"}, format="json",
                                                        **staff_h))
    check(schema, "/v1/admin/tenants", "get", api.get("/v1/admin/tenants", **staff_h))
    check(schema, "/v1/audit/events", "get", api.get("/v1/audit/events?limit=5", **staff_h))
    check(schema, "/v1/authz/roles", "get", api.get("/v1/authz/roles?tenant=platform", **staff_h))
    check(schema, "/v1/authz/me/permissions", "get", api.get("/v1/authz/me/permissions", **staff_h))
    _, credential = service_key_create(name="clotho", actor=Actor.system("test"))
    subject_role_grant(subject="svc:clotho", role="gateway", domain="platform", actor=Actor.system("test"))
    svc = {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}
    batch = {"checks": [{"subject": staff.pk, "tenant": "platform", "object": "/users", "action": "read"},
                        {"subject": user.pk, "tenant": "platform", "object": "/users", "action": "read"}]}
    answer = api.post("/v1/authz/check-batch", batch, format="json", **svc)
    check(schema, "/v1/authz/check-batch", "post", answer)
    assert answer.json() == {"results": [True, False]}
    check(schema, "/v1/users/me", "get", api.get("/v1/users/me", **svc))  # services have no me: 403
    check(schema, "/internal/revocations", "get", api.get("/internal/revocations", **svc))
    check(schema, "/internal/introspect", "post", api.post("/internal/introspect",
                                                           {"token": staff_h["HTTP_AUTHORIZATION"][7:]},
                                                           format="json", **svc))
    for path in ("/healthz", "/readyz", "/.well-known/openid-configuration", "/.well-known/jwks.json",
                 "/internal/jwks.json"):
        check(schema, path, "get", api.get(path))
