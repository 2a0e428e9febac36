"""Inputs a newcomer's probing found to break things once: each now gets a clear 4xx."""
from __future__ import annotations

import pytest

from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_token(api, signing_key):
    staff = UserFactory(user_type="staff")
    grant(staff, "platform_admin")
    return login(api, staff.username)["access_token"]


def test_infinite_numbers_are_refused(api, user, signing_key):
    tok = login(api, user.username)["access_token"]
    r = api.generic("PATCH", "/v1/users/me", b'{"extra": {"a": 1e999}}', content_type="application/json",
                    **bearer(tok))
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("url", [
    "/v1/admin/users?tenant_id=9223372036854775808", "/v1/admin/users?tenant_id=%C2%B9",
    "/v1/admin/users?tenant_id=%D9%A1", "/v1/audit/events?user_id=%C2%B9", "/v1/authz/roles?tenant=%C2%B9",
    "/v1/authz/roles?tenant=tenant:9999999999999999999",
])
def test_ids_out_of_range_or_not_ascii(api, staff_token, url):
    assert api.get(url, **bearer(staff_token)).status_code == 400


def test_huge_path_ids_are_not_found(api, staff_token):
    for url in ("/v1/admin/users/99999999999999999999", "/v1/authz/users/99999999999999999999/roles",
                "/v1/authz/users/999999/roles"):
        assert api.get(url, **bearer(staff_token)).status_code == 404, url


def test_check_subjects_and_tenants(api, staff_token):
    for body in ({"subject": "\u00b9", "tenant": 1, "object": "/a", "action": "read"},
                 {"tenant": "tenant:\u00b9", "object": "/a", "action": "read"}):
        assert api.post("/v1/authz/check", body, format="json", **bearer(staff_token)).status_code == 400


def test_role_rules(api, staff_token):
    from accounts.services import tenant_create

    t = tenant_create(name="rules", actor=Actor.system("t"))
    r = api.post("/v1/authz/roles", {"name": "empty", "tenant": t.pk, "permissions": []}, format="json",
                 **bearer(staff_token))
    assert r.status_code == 400 and "permissions" in r.json()["error"]["fields"]
    r = api.post("/v1/authz/roles", {"name": "ghost", "tenant": 999999, "permissions": [
        {"object": "/a", "action": "read"}]}, format="json", **bearer(staff_token))
    assert r.status_code == 400
    r = api.delete("/v1/authz/roles/platform_admin?tenant=platform", **bearer(staff_token))
    assert r.status_code == 409 and r.json()["error"]["code"] == "builtin_role"
    r = api.delete(f"/v1/authz/roles/tenant_admin?tenant={t.pk}", **bearer(staff_token))
    assert r.status_code == 409
    api.post("/v1/authz/roles", {"name": "clerk", "tenant": t.pk, "permissions": [
        {"object": "/a", "action": "read"}]}, format="json", **bearer(staff_token))
    r = api.put(f"/v1/authz/roles/clerk/permissions?tenant={t.pk}", {"permissions": []}, format="json",
                **bearer(staff_token))
    assert r.status_code == 400
    assert api.get(f"/v1/authz/roles/clerk/permissions?tenant={t.pk}", **bearer(staff_token)).status_code == 200


def test_second_factor_endpoints_want_strings(api, signing_key):
    for url, body in (("/v1/auth/mfa/verify", {}), ("/v1/auth/mfa/verify", {"mfa_token": "x", "code": 123456}),
                      ("/v1/auth/otp/verify", {"channel": "email", "destination": "a@example.com", "code": 5}),
                      ("/v1/auth/password/reset/confirm", {"token": "x", "new_password": 12345678})):
        r = api.post(url, body, format="json")
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", (url, body)
    r = api.post("/v1/auth/otp/send", {"channel": "email", "destination": "not-an-email"}, format="json")
    assert r.status_code == 400 and "destination" in r.json()["error"]["fields"]


def test_otp_by_email_ignores_local_part_case(api, signing_key, mailoutbox):
    import re

    user = UserFactory(email="Alice@example.com")
    api.post("/v1/auth/otp/send", {"channel": "email", "destination": "ALICE@EXAMPLE.COM"}, format="json")
    assert mailoutbox[-1].to == ["Alice@example.com"]  # to the address the account holds
    code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
    r = api.post("/v1/auth/otp/verify", {"channel": "email", "destination": "alice@example.com", "code": code},
                 format="json")
    assert r.status_code == 200 and r.json()["user"]["id"] == user.pk


def test_tenant_names_are_printable(api, staff_token):
    r = api.post("/v1/admin/tenants", {"name": "x\u0000y"}, format="json", **bearer(staff_token))
    assert r.status_code == 400


def test_lean_hot_views_keep_the_contract(api, user, signing_key, staff_token):
    from django.test import Client

    c = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_token}"}
    for body, ctype in ((b"{oops", "application/json"), (b"[1]", "application/json"), (b"x", "text/plain"),
                        (b'{"tenant": 1, "object": "/a", "action": "read", "n": 1e999}', "application/json")):
        r = c.post("/v1/authz/check", data=body, content_type=ctype, **auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", body
        assert r.json()["request_id"] == r["X-Request-Id"]
    assert c.get("/v1/authz/check", **auth).status_code == 405  # other methods: the DRF view answers
    r = c.post("/v1/authz/check", data={"tenant": 1, "object": "/a", "action": "read"},
               content_type="application/json")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    tok = login(api, user.username)["access_token"]
    me = c.get("/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {tok}")
    assert me.status_code == 200 and me["Content-Type"] == "application/json" and me.json()["id"] == user.pk
    assert c.patch("/v1/users/me", data={"nickname": "N"}, content_type="application/json",
                   HTTP_AUTHORIZATION=f"Bearer {tok}").json()["profile"]["nickname"] == "N"


def test_lean_me_answers_the_drf_views_bytes(api, user, signing_key):
    """GET /v1/users/me is served from cached, pre-rendered bytes (Redis in the services run):
    before and after the cache fills, and after a change, they are the bytes the DRF view renders."""
    from django.test import Client, RequestFactory

    from accounts.api.views.profile import MeView
    from accounts.models import UserProfile

    tok = login(api, user.username)["access_token"]
    UserProfile.objects.update_or_create(user=user, defaults={"nickname": "Zoë ✓", "extra": {"k": [1.5, None]}})
    c, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {tok}"}
    assert c.patch("/v1/users/me", data={"nickname": "Zoë ✓"}, content_type="application/json",
                   **auth).status_code == 200  # through the service: the cached answer is dropped

    def drf() -> bytes:
        response = MeView.as_view()(RequestFactory().get("/v1/users/me", **auth))
        return response.render().content

    for _ in range(2):  # the first fills the caches, the second is served from them
        lean = c.get("/v1/users/me", **auth)
        assert lean.status_code == 200 and lean.content == drf()
        assert lean.json()["profile"]["nickname"] == "Zoë ✓" and lean.json()["profile"]["extra"] == {"k": [1.5, None]}
    assert c.patch("/v1/users/me", data={"nickname": "Ann"}, content_type="application/json", **auth).status_code == 200
    lean = c.get("/v1/users/me", **auth)
    assert lean.json()["profile"]["nickname"] == "Ann" and lean.content == drf()


def test_lean_check_batch_answers_like_the_drf_view(api, user, signing_key, staff_token):
    """POST /v1/authz/check-batch skips DRF's dispatch: same answers, same bytes, same refusals."""
    from django.test import Client, RequestFactory

    from authz.api.views import CheckBatchView

    c = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_token}"}
    drf = CheckBatchView.as_view()
    checks = [{"subject": user.pk, "tenant": "platform", "object": "/users", "action": "read"},
              {"subject": f"user:{user.pk}", "tenant": 1, "object": "/a", "action": "read"},
              {"tenant": "platform", "object": "/authz/check", "action": "check"}]
    for body in ({"checks": checks}, {"checks": []}, {"checks": [{"subject": True, "tenant": 1, "object": "/a",
                                                                   "action": "read"}]},
                 {"checks": [{"subject": "user:1", "tenant": [1], "object": "/a", "action": "read"}]},
                 {"checks": "no"}, {"nope": 1}):
        lean = c.post("/v1/authz/check-batch", data=body, content_type="application/json", **auth)
        ref = drf(RequestFactory().post("/v1/authz/check-batch", data=body, content_type="application/json", **auth))
        assert lean.status_code == ref.status_code, body
        if ref.status_code == 200:
            assert lean.content == ref.render().content and lean.json()["results"][2] is True
        else:
            assert lean.json()["error"] == ref.data["error"], body
    for raw, ctype in ((b"{oops", "application/json"), (b"[1]", "application/json"), (b"x", "text/plain")):
        r = c.post("/v1/authz/check-batch", data=raw, content_type=ctype, **auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error", raw
    assert c.get("/v1/authz/check-batch", **auth).status_code == 405  # other methods: the DRF view answers
    r = c.post("/v1/authz/check-batch", data={"checks": checks}, content_type="application/json")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")


def test_request_metrics_count_every_request_by_status_view_and_method(api, user, signing_key):
    """custos.prometheus looks each labelled series up once; the counts must still land on the
    right series, for a lean view as for a DRF one and for each status."""
    from django.test import Client
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0

    tok = login(api, user.username)["access_token"]
    c = Client()
    series = [("django_http_responses_total_by_status_view_method_total", dict(status="200", view="me-hot",
                                                                              method="GET")),
              ("django_http_responses_total_by_status_view_method_total", dict(status="401", view="me-hot",
                                                                              method="GET")),
              ("django_http_requests_latency_seconds_by_view_method_count", dict(view="me-hot", method="GET")),
              ("django_http_requests_total_by_method_total", dict(method="GET"))]
    before = [sample(n, **labels) for n, labels in series]
    for _ in range(3):
        assert c.get("/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {tok}").status_code == 200
    assert c.get("/v1/users/me").status_code == 401
    after = [sample(n, **labels) for n, labels in series]
    assert [a - b for a, b in zip(after, before)] == [3, 1, 4, 4]


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read the answer until the server closes."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_requests_gunicorn_refuses_answer_in_the_envelope(tmp_path):
    """Malformed HTTP never reaches Django; gunicorn's answer is JSON with a stable code, and
    it does not repeat what the client sent."""
    import json

    from tests.server import running_custos

    cases = [
        (b"GARBAGE secret-in-line\r\n\r\n", 400, "bad_request"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    ]
    with running_custos(tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        for request, status, code in cases:
            got, headers, body = _raw(port, request)
            assert got == status, (request[:40], got, body[:200])
            assert headers["content-type"] == "application/json"
            assert int(headers["content-length"]) == len(body)
            answer = json.loads(body)
            assert answer["error"]["code"] == code and answer["error"]["message"]
            assert answer["request_id"] == headers["x-request-id"]
            assert b"secret-in-line" not in body and b"GARBAGE" not in body
        # and the server keeps serving
        _, _, body = _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert body
