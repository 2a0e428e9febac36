"""Bad input gets a clear 400 with the envelope, never a 500."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

POST_ENDPOINTS = ["/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh"]


def _assert_envelope(r, status: int, code: str) -> None:
    assert r.status_code == status, r.content
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == r["X-Request-Id"]


@pytest.mark.parametrize("path", POST_ENDPOINTS)
@pytest.mark.parametrize("payload,content_type", [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\xfd", "application/json"),
    (b'{"username": NaN}', "application/json"),
    (b"username=a&password=b", "application/x-www-form-urlencoded"),
    (b"<xml/>", "application/xml"),
    (b"hello", "text/plain"),
])
def test_malformed_bodies(client, signing_key, path, payload, content_type):
    r = client.post(path, data=payload, content_type=content_type)
    _assert_envelope(r, 400, "validation_error")


@pytest.mark.parametrize("body", [
    {"username": 123, "password": "x"}, {"username": ["a"], "password": "x"},
    {"username": "a", "password": {"x": 1}}, {"username": None, "password": None}, {"username": True},
])
def test_wrong_types_on_login(client, signing_key, body):
    r = client.post("/v1/auth/login", data=body, content_type="application/json")
    _assert_envelope(r, 400, "validation_error")
    assert r.json()["error"]["fields"]


def test_oversized_body(client, signing_key):
    big = b'{"username": "' + b"a" * (70 * 1024) + b'", "password": "x"}'
    r = client.post("/v1/auth/login", data=big, content_type="application/json")
    _assert_envelope(r, 400, "validation_error")


def test_request_id_is_echoed_or_generated(client, signing_key):
    r = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert r["X-Request-Id"] == "abc-123"
    r = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\r\nInjected: 1")
    assert r["X-Request-Id"] != "bad id\r\nInjected: 1" and len(r["X-Request-Id"]) == 32


def test_unknown_path_and_method(client, signing_key):
    _assert_envelope(client.get("/v1/nope"), 404, "not_found")
    _assert_envelope(client.get("/v1/auth/login"), 405, "method_not_allowed")


def test_bad_authorization_headers(client, signing_key):
    for value in ("Bearer", "Bearer a b", "Bearer " + "x" * 5000, "Bearer \u00e9\u00e9"):
        r = client.get("/v1/users/me", HTTP_AUTHORIZATION=value)
        assert r.status_code == 401, value
        assert r.json()["error"]["code"] in ("token_invalid", "not_authenticated")


def test_long_and_unicode_passwords_are_not_truncated(client, signing_key):
    # 167 characters, spaces and Unicode (and no repetition: the password rules refuse that)
    long_pw = ("L'\u00e9t\u00e9 \u00e0 Krak\u00f3w, un \u00f1and\u00fa danse avec un ping\u00fcino sous la lune; "
               "\u00fcber die Stra\u00dfe geht ein B\u00e4r, \u00e7\u00e0 et l\u00e0, \u00f8re og \u00e6r\u00f8; "
               "\u65e5\u672c\u8a9e\u306e\u30d1\u30b9\u30ef\u30fc\u30c9\u3082\u9577\u304f\u3066\u5927\u4e08\u592b"
               "\u3067\u3059\u3001\u672c\u5f53\u306b\u3002 The end of a long passphrase ")
    r = client.post("/v1/auth/register", data={"username": "longpw", "password": long_pw},
                    content_type="application/json")
    assert r.status_code == 201, r.content
    ok = client.post("/v1/auth/login", data={"username": "longpw", "password": long_pw},
                     content_type="application/json")
    assert ok.status_code == 200
    cut = client.post("/v1/auth/login", data={"username": "longpw", "password": long_pw[:-1]},
                      content_type="application/json")
    assert cut.status_code == 401


def test_deeply_nested_json_is_a_400(client, signing_key):
    body = "[" * 5000 + "]" * 5000
    r = client.post("/v1/auth/register", data=body, content_type="application/json")
    _assert_envelope(r, 400, "validation_error")


def test_chunked_body_without_length_is_refused(client, signing_key):
    r = client.post("/v1/auth/login", data=b"", content_type="application/json",
                    HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    _assert_envelope(r, 400, "validation_error")


def test_password_policy_reasons(client, signing_key):
    r = client.post("/v1/auth/register", data={"username": "dora", "password": "password"},
                    content_type="application/json")
    body = r.json()["error"]
    assert r.status_code == 400 and "password_too_common" in body["reasons"]
    assert "password_too_short" not in body["message"] and body["fields"]["password"]
    r = client.post("/v1/auth/register", data={"username": "dorathea", "password": "dorathea1"},
                    content_type="application/json")
    assert "password_too_similar" in r.json()["error"]["reasons"]


def test_login_without_a_signing_key_is_a_503(client, user):
    from tests.factories import PASSWORD

    r = client.post("/v1/auth/login", data={"username": user.username, "password": PASSWORD},
                    content_type="application/json")
    _assert_envelope(r, 503, "signing_key_unavailable")
