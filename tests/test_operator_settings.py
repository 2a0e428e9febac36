"""Operator settings (issue 18): secrets from files, the Celery queue, the proxy's TLS header,
secure cookies, HSTS, and /readyz asking the broker when there is one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import SERVICES

ROOT = Path(__file__).resolve().parent.parent


def _settings_of(env: dict[str, str], *names: str) -> dict:
    """The settings a fresh process computes from this environment."""
    code = ("import django, json, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
            "django.setup(); from django.conf import settings; from celery import current_app; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_secret_may_come_from_a_file(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-docker-secret-file-0123456789\n")
    got = _settings_of({"CUSTOS_SECRET_KEY_FILE": str(secret), "CUSTOS_VAR_DIR": str(tmp_path)}, "SECRET_KEY")
    assert got["SECRET_KEY"] == "from-a-docker-secret-file-0123456789"
    # the variable itself wins over its file
    got = _settings_of({"CUSTOS_SECRET_KEY": "direct", "CUSTOS_SECRET_KEY_FILE": str(secret),
                        "CUSTOS_VAR_DIR": str(tmp_path)}, "SECRET_KEY")
    assert got["SECRET_KEY"] == "direct"


def test_a_missing_secret_file_stops_the_process_with_its_name(tmp_path):
    code = ("import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
            "import django; django.setup()")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**clean, "CUSTOS_VAR_DIR": str(tmp_path),
                              "CUSTOS_DATABASE_URL_FILE": str(tmp_path / "missing")})
    assert out.returncode != 0 and "CUSTOS_DATABASE_URL_FILE" in out.stderr


def test_operator_settings_reach_django_and_celery(tmp_path):
    got = _settings_of({"CUSTOS_VAR_DIR": str(tmp_path), "CUSTOS_CELERY_QUEUE": "custos-prod",
                        "CUSTOS_SECURE_COOKIES": "true", "CUSTOS_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
                        "CUSTOS_HSTS_SECONDS": "31536000"},
                       "CELERY_TASK_DEFAULT_QUEUE", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                       "SECURE_PROXY_SSL_HEADER", "CUSTOS_HSTS_SECONDS")
    assert got == {"CELERY_TASK_DEFAULT_QUEUE": "custos-prod", "SESSION_COOKIE_SECURE": True,
                   "CSRF_COOKIE_SECURE": True, "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
                   "CUSTOS_HSTS_SECONDS": 31536000}
    defaults = _settings_of({"CUSTOS_VAR_DIR": str(tmp_path)}, "CELERY_TASK_DEFAULT_QUEUE", "SESSION_COOKIE_SECURE",
                            "SECURE_PROXY_SSL_HEADER")
    assert defaults == {"CELERY_TASK_DEFAULT_QUEUE": "custos", "SESSION_COOKIE_SECURE": False,
                        "SECURE_PROXY_SSL_HEADER": None}


@pytest.mark.django_db
def test_hsts_only_on_https_and_only_when_set(settings):
    from custos.middleware import RequestContextMiddleware

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CUSTOS_HSTS_SECONDS = 600
    client = Client()
    # the middleware reads the setting when the handler is built: a fresh client handler here
    assert RequestContextMiddleware(lambda r: None).hsts == "max-age=600; includeSubDomains"
    r = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
    assert r["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/healthz")
    settings.CUSTOS_HSTS_SECONDS = 0
    assert "Strict-Transport-Security" not in Client().get("/healthz", HTTP_X_FORWARDED_PROTO="https")


@pytest.mark.django_db
def test_readyz_fails_when_the_configured_broker_is_down(settings, signing_key):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    r = Client().get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["broker"] == "fail"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # eager (make run): no broker to ask
    r = Client().get("/readyz")
    assert r.status_code == 200 and "broker" not in r.json()["checks"]


@pytest.mark.skipif(not SERVICES, reason="needs the RabbitMQ broker (CUSTOS_TEST_SERVICES=1)")
@pytest.mark.django_db
def test_readyz_asks_the_real_broker(settings, signing_key):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = os.environ.get("CUSTOS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    r = Client().get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["broker"] == "ok"
