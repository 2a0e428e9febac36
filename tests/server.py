"""Run Custos for real (migrate, key, gunicorn with several workers) in a scratch var dir."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scratch_mysql_db(url: str) -> None:
    import MySQLdb  # only in services mode

    name = url.rsplit("/", 1)[1]
    conn = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()


E2E_MYSQL_URL = f"mysql://root@127.0.0.1:3306/custos_e2e_{os.getpid()}"


def server_env(var_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a separate Custos process: embedded default, or MariaDB and Redis
    in services mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({"CUSTOS_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings"})
    if os.environ.get("CUSTOS_TEST_SERVICES") == "1":
        env["CUSTOS_DATABASE_URL"] = E2E_MYSQL_URL
        env["CUSTOS_REDIS_URL"] = "redis://127.0.0.1:6379/14"
    env.update(extra_env or {})
    return env


def manage(var_dir: Path, *args: str, extra_env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=server_env(var_dir, extra_env),
                          check=True, capture_output=True, text=True, timeout=300)
    return proc.stdout


def _drop_mysql_db(url: str) -> None:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
    finally:
        conn.close()


def wait_until_up(base: str, proc: subprocess.Popen, why: Callable[[], str], seconds: float = 60) -> None:
    """Until `base`/healthz answers 200; a process that exits, or the time running out, fails
    with what `why` tells (its log)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # master up, workers still booting
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {why()}")
        time.sleep(0.1)


@contextmanager
def running_custos(var_dir: Path, workers: int = 2, extra_env: dict[str, str] | None = None):
    env = server_env(var_dir, extra_env)
    if "CUSTOS_DATABASE_URL" in env and env["CUSTOS_DATABASE_URL"].startswith("mysql"):
        _scratch_mysql_db(env["CUSTOS_DATABASE_URL"])
    manage(var_dir, "migrate", "--no-input", "-v", "0", extra_env=extra_env)
    manage(var_dir, "ensure_signing_key", extra_env=extra_env)
    py = sys.executable
    port = free_port()
    gunicorn = Path(py).parent / "gunicorn"
    proc = subprocess.Popen([str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
                             "--workers", str(workers), "--log-level", "warning", "--no-control-socket",
                             "-c", "config/gunicorn.py"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, lambda: proc.stderr.read().decode()[-2000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if env.get("CUSTOS_DATABASE_URL", "").startswith("mysql"):
            _drop_mysql_db(env["CUSTOS_DATABASE_URL"])
