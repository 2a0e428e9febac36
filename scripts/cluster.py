"""`make cluster`: the production topology of docker-compose.yml on this machine, without
containers, in the foreground (docs/deploy.md, "make cluster").

Two gunicorn web nodes on 127.0.0.1:8001 and :8002, a Celery worker and beat, on MariaDB,
Redis and RabbitMQ (CUSTOS_DATABASE_URL, CUSTOS_REDIS_URL, CUSTOS_BROKER_URL; by default the
local services). Every process shares one secret key and one key directory under the cluster's
directory (CUSTOS_CLUSTER_DIR, default var/cluster/), and exports the audit trail to RabbitMQ.
Each process logs JSON lines to <dir>/<name>.log and writes its pid to <dir>/<name>.pid.

A child that dies is reported and started again (as compose's `restart: unless-stopped`); a
web node that does not come up at start fails the whole run. Ctrl-C (SIGINT) or SIGTERM stops
every child and waits for it. Only the standard library: the Custos processes run in .venv."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORTS = (8001, 8002)
DEFAULTS = {
    "CUSTOS_DATABASE_URL": "mysql://root@127.0.0.1:3306/custos_cluster",
    "CUSTOS_REDIS_URL": "redis://127.0.0.1:6379/0",
    "CUSTOS_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "CUSTOS_CELERY_QUEUE": "custos",
    "CUSTOS_AUDIT_SINKS": "rabbitmq",
    "CUSTOS_ISSUER": f"http://127.0.0.1:{PORTS[0]}",
    "CUSTOS_LOG_LEVEL": "INFO",
}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
RESTART_LIMIT = 5  # quick deaths in a row before a child is given up on (and the cluster stopped)


def say(message: str) -> None:
    print(f"cluster: {message}", flush=True)  # noqa: T201 - the foreground command's own output


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], directory: Path,
                 url: str | None = None) -> None:
        self.name, self.argv, self.env, self.url = name, argv, env, url
        self.log = directory / f"{name}.log"
        self.pidfile = directory / f"{name}.pid"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.quick_deaths = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            # its own session: the terminal's Ctrl-C reaches only this script, which stops the
            # children in order instead of every process getting the signal at once
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,  # noqa: S603
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        self.pidfile.write_text(f"{self.proc.pid}\n")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {STOP_TIMEOUT:.0f} s: killed")
            self.proc.kill()
            self.proc.wait()
        self.pidfile.unlink(missing_ok=True)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:  # noqa: S310 - our own node
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return host, port, True
    except OSError:
        return host, port, False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _database_create(url: str) -> None:
    """CREATE DATABASE IF NOT EXISTS, for MariaDB/MySQL (mysqlclient, the `mysql` extra)."""
    parsed = urlparse(url)
    if not parsed.scheme.startswith("mysql"):
        return
    import MySQLdb

    name = parsed.path.lstrip("/")
    if not name or "`" in name:
        raise SystemExit(f"cluster: no usable database name in CUSTOS_DATABASE_URL ({name!r})")
    conn = MySQLdb.connect(host=parsed.hostname or "127.0.0.1", port=parsed.port or 3306,
                           user=unquote(parsed.username or "root"), passwd=unquote(parsed.password or ""))
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` "
                              "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()


def _secret_key(path: Path) -> None:
    """Made once; every process reads it through CUSTOS_SECRET_KEY_FILE (never in argv or env)."""
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50))


def cluster_env(directory: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Every process's environment (and a `manage.py` beside the cluster's: tests/test_cluster.py)."""
    env = dict(os.environ if base is None else base)
    for name, value in DEFAULTS.items():
        env.setdefault(name, value)
    # the topology's own choices: shared state under the cluster's directory, real Celery
    env.pop("CUSTOS_SECRET_KEY", None)
    env.update({
        "CUSTOS_VAR_DIR": str(directory),
        "CUSTOS_SECRET_KEY_FILE": str(directory / "secret_key"),
        "CUSTOS_KEY_DIR": str(directory / "keys"),
        "CUSTOS_CELERY_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env)  # noqa: S603 - fixed commands
    if done.returncode != 0:
        raise SystemExit(f"cluster: manage.py {' '.join(args)} failed ({done.returncode})")


def children(env: dict[str, str], directory: Path) -> list[Child]:
    out = []
    workers = env.get("CUSTOS_CLUSTER_WEB_WORKERS", "2")
    for i, port in enumerate(PORTS, start=1):
        metrics = directory / "prometheus" / f"web{i}"
        out.append(Child(f"web{i}", [
            str(BIN / "gunicorn"), "config.wsgi:application", "-c", "config/gunicorn.py",
            "--bind", f"127.0.0.1:{port}", "--workers", workers, "--access-logfile", "-",
            "--graceful-timeout", "10", "--forwarded-allow-ips=", "--no-control-socket"],
            {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, directory, url=f"http://127.0.0.1:{port}"))
    celery = [str(BIN / "celery"), "-A", "config", "--quiet"]
    out.append(Child("worker", [*celery, "worker", "-Q", env["CUSTOS_CELERY_QUEUE"], "--loglevel", "INFO",
                                "--concurrency", "2", "--hostname", f"custos-cluster-{os.getpid()}@%h"],
                     env, directory))
    # exactly one beat, as in the compose file; its schedule file and pid file stay in the directory
    out.append(Child("beat", [*celery, "beat", "--loglevel", "INFO",
                              "--schedule", str(directory / "celerybeat-schedule"),
                              "--pidfile", str(directory / "celerybeat.pid")], env, directory))
    return out


def _prepare_metrics(child: Child) -> None:
    metrics = child.env.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics:  # multiprocess files of a previous run would be counted again
        path = Path(metrics)
        path.mkdir(parents=True, exist_ok=True)
        for f in path.glob("*.db"):
            f.unlink()


def main() -> int:
    directory = Path(os.environ.get("CUSTOS_CLUSTER_DIR") or ROOT / "var" / "cluster").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keys").mkdir(mode=0o700, exist_ok=True)
    env = cluster_env(directory)

    taken = [p for p in PORTS if not _port_free(p)]
    if taken:
        say(f"127.0.0.1:{', :'.join(map(str, taken))} already in use (another make cluster, make run "
            "or service?): stop it first")
        return 2
    down = []
    for name, var, port in (("MariaDB", "CUSTOS_DATABASE_URL", 3306), ("Redis", "CUSTOS_REDIS_URL", 6379),
                            ("RabbitMQ", "CUSTOS_BROKER_URL", 5672)):
        if env[var].startswith("sqlite"):
            continue
        host, port, ok = _reachable(env[var], port)
        if not ok:
            down.append(f"{name} at {host}:{port} ({var})")
    if down:
        say("not reachable: " + "; ".join(down))
        return 2

    _secret_key(directory / "secret_key")
    _database_create(env["CUSTOS_DATABASE_URL"])
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "ensure_signing_key")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    manage(env, "setup_link")

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    kids = children(env, directory)
    failed = 0
    try:
        for child in kids:
            _prepare_metrics(child)
            child.start()
        deadline = time.monotonic() + START_TIMEOUT
        for web in (c for c in kids if c.url):
            while not stopping and not web.healthy():
                if not web.alive() or time.monotonic() > deadline:
                    why = f"exited with {web.proc.returncode}" if not web.alive() else "not ready in time"
                    say(f"{web.name} {why}; its log ({web.log}) ends:\n{web.tail()}")
                    failed = 1
                    return failed
                time.sleep(0.2)
        if stopping:
            return 0
        say("up:")
        for child in kids:
            where = f"{child.url:24}" if child.url else f"{'':24}"
            say(f"  {child.name:7} {where} log {child.log}  pid {child.proc.pid}")
        db = urlparse(env["CUSTOS_DATABASE_URL"])
        say(f"database {db.hostname}:{db.port or 3306}{db.path}, keys {env['CUSTOS_KEY_DIR']}, "
            f"audit sinks {env['CUSTOS_AUDIT_SINKS']}; Ctrl-C stops everything")
        while not stopping:
            for child in kids:
                if stopping or child.alive():
                    continue
                code = child.proc.returncode
                quick = time.monotonic() - child.started < 10
                child.quick_deaths = child.quick_deaths + 1 if quick else 0
                if child.quick_deaths >= RESTART_LIMIT:
                    say(f"{child.name} keeps dying (exit {code}); its log ({child.log}) ends:\n{child.tail()}")
                    failed = 1
                    return failed
                say(f"{child.name} exited with {code}; starting it again (log {child.log})")
                _prepare_metrics(child)
                child.start()
            time.sleep(0.3)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping")
        for child in kids:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in kids:
            child.wait(deadline)
            if child.proc is not None:
                say(f"  {child.name} stopped ({child.proc.returncode})")
        say("stopped" + (" after a failure" if failed else ""))


if __name__ == "__main__":
    sys.exit(main())
