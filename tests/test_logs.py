"""Logs that parse (issue 18): every process writes one JSON object per line, in one format.

- the web's request line carries the user id on sign-in and refresh (endpoints that authenticate
  nobody), and covers the console (/admin/, /setup/) with the path but never the query string;
- gunicorn's access and error logs are the same JSON (a real gunicorn, tests/server.py's way);
- the worker's lines name the task, the sink and the error; Celery's own lines too, without the
  task's arguments; a real `celery worker` writes nothing but JSON, its shutdown notice included;
- prints and warnings become JSON lines;
- no line carries a password, a token or the setup link's token."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests
from django.test import Client

from custos.logging import JsonFormatter, LineWriter, RequestContextFilter, capture_std_streams
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory
from tests.server import ROOT, free_port, manage, server_env, wait_until_up

pytestmark = pytest.mark.django_db(transaction=True)


class _Lines:
    """A JSON handler on a logger (the project's formatter and filter), read back as dicts."""

    def __init__(self, name: str = "") -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.handler.addFilter(RequestContextFilter())
        self.logger = logging.getLogger(name)
        self.level = self.logger.level

    def __enter__(self) -> _Lines:
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)

    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]  # every line parses


# ---- the request line ---------------------------------------------------------------------------
def test_sign_in_and_refresh_lines_name_the_user(api, user, signing_key):
    with _Lines("custos.request") as lines:
        pair = login(api, user.username)
        r = api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
        assert r.status_code == 200
        r = api.post("/v1/auth/refresh", {"refresh_token": r.json()["refresh_token"]}, format="json")
        assert r.status_code == 200
        bad = api.post("/v1/auth/login", {"username": user.username, "password": "wrong password"}, format="json")
        assert bad.status_code == 401
    by_path = [(r["path"], r["status"], r["user_id"]) for r in lines.records() if r["msg"] == "request"]
    assert by_path == [("/v1/auth/login", 200, user.pk), ("/v1/auth/refresh", 200, user.pk),
                       ("/v1/auth/refresh", 200, user.pk), ("/v1/auth/login", 401, None)]
    for secret in (PASSWORD, pair["access_token"], pair["refresh_token"], "wrong password"):
        assert secret not in lines.text()


def test_console_requests_are_logged_without_their_query_string(db, signing_key):
    staff = UserFactory(username="root", user_type="staff", is_superuser=True)
    client = Client()
    with _Lines("custos.request") as lines:
        assert client.get("/admin/login/?next=/admin/").status_code == 200
        assert client.get("/setup/?token=not-a-real-setup-token-but-secret").status_code in (302, 403, 404)
        client.force_login(staff, backend="accounts.backends.CustosModelBackend")
        assert client.get("/admin/?q=needle").status_code == 200
    seen = [(r["method"], r["path"], r["user_id"]) for r in lines.records() if r["msg"] == "request"]
    assert seen == [("GET", "/admin/login/", None), ("GET", "/setup/", None), ("GET", "/admin/", staff.pk)]
    assert all(isinstance(r["latency_ms"], float) and r["request_id"] for r in lines.records())
    assert "not-a-real-setup-token" not in lines.text() and "needle" not in lines.text()


# ---- the worker ---------------------------------------------------------------------------------
def test_a_worker_task_line_names_the_task_the_sink_and_the_error(settings):
    from audit.services import Actor, event_record
    from audit.tasks import export_all

    event_record(action="user.updated", actor=Actor.system("test"))
    port = free_port()  # nothing listens there: the webhook sink fails
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": ["webhook"], "SETTLE_SECONDS": 0,
                             "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook", "WEBHOOK_SECRET": "k" * 32}
    with _Lines("custos.audit") as lines:
        result = export_all.apply().get()
    assert result["webhook"].startswith("failed")
    (line,) = lines.records()
    assert line["msg"] == "audit export failed" and line["level"] == "WARNING"
    assert line["task_name"] == "audit.tasks.export_all" and line["task_id"]
    assert line["sink"] == "webhook" and line["error"] == "URLError"
    assert "k" * 32 not in lines.text()


def test_celery_s_own_lines_name_the_task_and_leave_its_arguments_out():
    formatter = JsonFormatter()
    context = {"id": "4c04f7ee", "name": "accounts.tasks.send_code", "args": "(7, 'gAAAAAsealed-code')",
               "kwargs": "{}", "exc": "ConnectionError('broker gone')", "return_value": "'secret-ish'"}
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1,
                               "Task %(name)s[%(id)s] raised unexpected: %(exc)s", (context,), None)
    record.data = context  # as Celery passes it, for custom handlers
    out = json.loads(formatter.format(record))
    assert out["msg"] == "Task accounts.tasks.send_code[4c04f7ee] raised unexpected: ConnectionError('broker gone')"
    assert (out["task_name"], out["task_id"], out["error"]) == ("accounts.tasks.send_code", "4c04f7ee",
                                                                "ConnectionError")
    assert "sealed-code" not in json.dumps(out) and "secret-ish" not in json.dumps(out)
    beat = logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                             ("audit-export", "audit.tasks.export_all"), None)
    out = json.loads(formatter.format(beat))
    assert (out["schedule"], out["task_name"]) == ("audit-export", "audit.tasks.export_all")


def test_a_real_worker_writes_only_json_lines(tmp_path):
    """`celery worker` with the in-memory broker: Celery's logging goes through Django's LOGGING,
    and what it writes straight to file descriptor 1 (its shutdown notice) becomes JSON too."""
    env = server_env(tmp_path, {"CUSTOS_BROKER_URL": "memory://localhost/", "CUSTOS_CELERY_EAGER": "false",
                                "PYTHONUNBUFFERED": "1"})
    env.pop("CUSTOS_DATABASE_URL", None)
    env.pop("CUSTOS_REDIS_URL", None)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "config", "worker",
                                 "--pool", "solo", "--loglevel", "INFO", "-n", f"logs-{os.getpid()}@%h"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while " ready." not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    lines = log.read_text().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:200]!r}")
    assert any(r["logger"] == "celery.apps.worker" and r["msg"].endswith(" ready.") for r in records), lines[-5:]
    assert any(r["logger"] == "stdout" and "Warm shutdown" in r["msg"] for r in records), lines[-5:]
    # the banner (Celery prints it to stdout) arrived as JSON lines as well
    assert any("[queues]" in r["msg"] for r in records)


# ---- prints and warnings ------------------------------------------------------------------------
def test_prints_and_warnings_become_json_lines(monkeypatch):
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    with _Lines("stdout") as out, _Lines("stderr") as err, _Lines("py.warnings") as warned:
        capture_std_streams()
        assert isinstance(sys.stdout, LineWriter) and isinstance(sys.stderr, LineWriter)
        print("first line\nsecond line")  # noqa: T201 - what a library would do
        print("no newline yet", end="")  # noqa: T201
        sys.stdout.flush()
        sys.stderr.write("a library's complaint\n")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)
            warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
        logging.captureWarnings(False)
    assert [r["msg"] for r in out.records()] == ["first line", "second line", "no newline yet"]
    assert [(r["msg"], r["level"]) for r in err.records()] == [("a library's complaint", "WARNING")]
    assert "something is deprecated" in warned.records()[0]["msg"]


# ---- a real gunicorn ----------------------------------------------------------------------------
@pytest.fixture
def gunicorn_log(tmp_path):
    """Custos under gunicorn as tests/server.py runs it, with `--access-logfile -` and its whole
    output (stdout and stderr) in one file."""
    env = server_env(tmp_path)
    url = env.get("CUSTOS_DATABASE_URL", "")
    if url.startswith("mysql"):
        from tests.server import _scratch_mysql_db

        _scratch_mysql_db(url)
    manage(tmp_path, "migrate", "--no-input", "-v", "0")
    manage(tmp_path, "ensure_signing_key")
    link = re.search(r"(/setup/\?token=\S+)", manage(tmp_path, "setup_link")).group(1)
    port = free_port()
    log = tmp_path / "web.log"
    out = open(log, "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application",
                             "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                             "--access-logfile", "-", "--no-control-socket"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, lambda: log.read_text()[-2000:])

        def stop() -> str:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)
            return log.read_text()

        yield base, link, stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        if url.startswith("mysql"):
            from tests.server import _drop_mysql_db

            _drop_mysql_db(url)


def test_gunicorn_s_lines_are_the_same_json_and_hold_no_secret(gunicorn_log):
    base, link, stop = gunicorn_log
    password = "a long and unusual passphrase 7"
    r = requests.post(f"{base}/v1/auth/register", json={"username": "loggy", "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    pair = requests.post(f"{base}/v1/auth/login", json={"username": "loggy", "password": password}, timeout=10).json()
    fresh = requests.post(f"{base}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}, timeout=10)
    assert fresh.status_code == 200
    me = requests.get(f"{base}/v1/users/me", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"},
                      timeout=10)
    assert me.status_code == 200
    uid = me.json()["id"]
    setup = requests.get(base + link, timeout=10, allow_redirects=False)  # the one-time setup link
    assert setup.status_code == 302
    assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
    text = stop()

    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line[:200]!r}")
    token = link.split("token=", 1)[1]
    for secret in (password, pair["access_token"], pair["refresh_token"], fresh.json()["access_token"],
                   fresh.json()["refresh_token"], token):
        assert secret not in text
    requests_ = {(r["method"], r["path"]): r for r in records if r["logger"] == "custos.request"}
    assert requests_[("POST", "/v1/auth/login")]["user_id"] == uid
    assert requests_[("POST", "/v1/auth/refresh")]["user_id"] == uid
    assert requests_[("GET", "/v1/users/me")]["user_id"] == uid
    assert requests_[("GET", "/setup/")]["status"] == 302 and requests_[("GET", "/admin/login/")]["status"] == 200
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert {(r["method"], r["path"], r["status"]) for r in access} >= {
        ("POST", "/v1/auth/register", 201), ("POST", "/v1/auth/login", 200), ("POST", "/v1/auth/refresh", 200),
        ("GET", "/setup/", 302), ("GET", "/admin/login/", 200)}
    for r in access:  # the access line and the request line share the request id
        assert isinstance(r["latency_ms"], float) and r["remote_addr"] == "127.0.0.1" and r["bytes"] is not None
    login_access = next(r for r in access if r["path"] == "/v1/auth/login")
    assert login_access["request_id"] == requests_[("POST", "/v1/auth/login")]["request_id"] != ""
    errors = [r["msg"] for r in records if r["logger"] == "gunicorn.error"]
    assert any(m.startswith("Listening at:") for m in errors) and any("Shutting down" in m for m in errors)
    assert {r["level"] for r in records} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
