from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_missing_signing_key(client):
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["signing_key"] == "fail"
    assert r.json()["checks"]["database"] == "ok"


def test_readyz_ok(client, signing_key):
    r = client.get("/readyz")
    assert r.status_code == 200 and set(r.json()["checks"].values()) == {"ok"}


def test_openapi_schema_lists_the_contract(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in ("/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout",
              "/v1/auth/force-logout", "/v1/users/me", "/v1/sessions", "/v1/sessions/{session_id}"):
        assert p in paths, p


def test_swagger_ui_is_served_locally(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger" in html.lower() and "cdn.jsdelivr" not in html


def test_no_default_credentials(db):
    from accounts.models import User

    assert not User.objects.exists()


def test_referrer_policy_is_no_referrer_everywhere(client, signing_key):
    """Issue 14: Referrer-Policy was same-origin. An API answer, an error, an admin page and the
    JWKS (served in front of Django) all say no-referrer."""
    import io

    from config.wsgi import application

    for path in ("/healthz", "/v1/users/me", "/admin/login/", "/internal/jwks.json"):
        r = client.get(path)
        assert r["Referrer-Policy"] == "no-referrer", path
    captured = {}
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/internal/jwks.json", "wsgi.input": io.BytesIO(b""),
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    b"".join(application(environ, lambda status, headers: captured.update(headers)))
    assert captured["Referrer-Policy"] == "no-referrer"
