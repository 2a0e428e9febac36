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


def test_no_default_credentials(tmp_path):
    """What `make run` starts from: migrations on an empty database make no account, no
    service key, no role holder and no OAuth client secret. The test database cannot show
    it (it is flushed before each transactional test), so the migrations run here, in a
    subprocess, on a scratch SQLite file, whatever database the suite itself uses."""
    import os
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    db = tmp_path / "fresh.sqlite3"
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUSTOS_DATABASE_URL", "CUSTOS_REDIS_URL", "CUSTOS_BROKER_URL", "CUSTOS_TEST_SERVICES")}
    env["CUSTOS_DATABASE_URL"] = f"sqlite:///{db}"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "service_keys", "casbin_rule"} <= tables  # the migrations did run
        for table in ("users", "service_keys", "user_oauth", "mfa_totp_devices", "password_reset_tokens"):
            if table in tables:
                assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,), table  # noqa: S608 - table names from the list above
        # the seeded roles have permissions but no members: nobody holds platform_admin
        assert conn.execute("SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'g'").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'p'").fetchone()[0] > 0


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


def test_admin_forms_survive_no_referrer_and_still_need_their_token(db):
    """Under no-referrer a browser posts the admin's own forms with `Origin: null`; the admin
    takes that as same-origin only when `Sec-Fetch-Site` says so, and the CSRF token is
    required either way."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/admin/login/").status_code == 200
    token = browser.cookies["csrftoken"].value
    form = {"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token}

    def post(data, **headers):
        return browser.post("/admin/login/", data, **headers).status_code

    own = {"HTTP_ORIGIN": "null", "HTTP_SEC_FETCH_SITE": "same-origin"}
    assert post(form, **own) == 200  # the form again, with "wrong credentials": CSRF passed
    assert post({**form, "csrfmiddlewaretoken": "x" * 64}, **own) == 403  # the token still counts
    assert post(form, HTTP_ORIGIN="null") == 403  # a null origin nobody vouches for
    assert post(form, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="cross-site") == 403
    assert post(form, HTTP_ORIGIN="https://evil.example", HTTP_SEC_FETCH_SITE="same-origin") == 403
