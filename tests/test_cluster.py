"""`make cluster` against the real MariaDB, Redis and RabbitMQ (issue 18): two web nodes, a
worker and beat as separate processes, checked from outside through HTTP, the broker and the
log files. Services pass only (CUSTOS_TEST_SERVICES=1), where a missing service is a failure.

The tests share one cluster (module fixture) and run in file order; the last one stops it
with Ctrl-C's signal. Scratch names keep a developer's cluster apart: the cluster directory is
a temporary one (CUSTOS_CLUSTER_DIR), the database `<suite database>_cluster`, its own Redis
db, cache prefix, Celery queue and audit exchange."""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import jwt
import pytest
import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = os.environ.get("CUSTOS_TEST_SERVICES") == "1"
pytestmark = [pytest.mark.skipif(not SERVICES, reason="needs MariaDB, Redis and RabbitMQ (CUSTOS_TEST_SERVICES=1)"),
              # the suite's autouse fixtures open its own (test) database; the cluster has another
              pytest.mark.django_db]

NODE1, NODE2 = "http://127.0.0.1:8001", "http://127.0.0.1:8002"
# every job of the schedule (config/settings.py), whatever it holds by now
JOBS = tuple(settings.CELERY_BEAT_SCHEDULE)
TASKS = tuple({job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()})
J = {"content-type": "application/json"}


def _script():
    spec = importlib.util.spec_from_file_location("custos_cluster_script", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mysql(url: str):
    import MySQLdb

    parsed = urlparse(url)
    return MySQLdb.connect(host=parsed.hostname, port=parsed.port or 3306, user=parsed.username or "root",
                           passwd=parsed.password or "")


class Cluster:
    """The running `make cluster`, what the tests learned, and every secret they handed out."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.dir, self.env = directory, env
        self.proc: subprocess.Popen | None = None
        self.secrets: set[str] = set()
        self.service_auth: dict[str, str] = {}

    def manage(self, *args: str, stdin: str | None = None) -> str:
        """manage.py in the cluster's own environment (the script's cluster_env)."""
        env = _script().cluster_env(self.dir, self.env)
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def pid(self, name: str) -> int:
        return int((self.dir / f"{name}.pid").read_text())

    def output(self) -> str:
        return (self.dir / "make-cluster.out").read_text(errors="replace")

    def user(self, base: str = NODE1) -> dict:
        """A new account, signed in on `base`."""
        name, password = f"cl{secrets.token_hex(4)}", secrets.token_urlsafe(18)
        self.secrets.add(password)
        r = requests.post(f"{base}/v1/auth/register", json={"username": name, "password": password}, timeout=10)
        assert r.status_code == 201, r.text
        return {"username": name, "password": password, **self.login(base, name, password)}

    def login(self, base: str, username: str, password: str) -> dict:
        r = requests.post(f"{base}/v1/auth/login", json={"username": username, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        pair = r.json()
        self.secrets.update({pair["access_token"], pair["refresh_token"]})
        return pair


def _until(predicate, timeout: float, step: float = 0.02) -> float | None:
    """Seconds until predicate() held, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def _kill_leftovers(directory: Path) -> None:
    for pidfile in directory.glob("*.pid"):
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)  # each child leads its own session
        except (ValueError, OSError):
            pass


@pytest.fixture(scope="module")
def amqp_url() -> str:
    return os.environ.get("CUSTOS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="module")
def audit_queue(amqp_url):
    """A queue bound to the cluster's own audit exchange before anything is produced; a thread
    collects (message_id, received at) from it for the whole module."""
    from kombu import Connection, Exchange, Queue

    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    exchange = Exchange(f"custos.audit.cluster_test_{tag}", type="topic", durable=True)
    queue = Queue(f"custos_cluster_test_{tag}", exchange=exchange, routing_key="#", durable=True)
    received: list[tuple[str, float]] = []
    stop = threading.Event()
    with Connection(amqp_url) as conn:
        queue(conn.channel()).declare()

    def consume() -> None:
        with Connection(amqp_url) as conn, conn.SimpleQueue(queue) as sq:
            while not stop.is_set():
                try:
                    msg = sq.get(timeout=0.2)
                except sq.Empty:
                    continue
                received.append((msg.properties.get("message_id"), time.monotonic()))
                msg.ack()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    yield {"exchange": exchange.name, "received": received}
    stop.set()
    thread.join(5)
    with Connection(amqp_url) as conn:
        queue(conn.channel()).delete()
        exchange(conn.channel()).delete()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, audit_queue, amqp_url):
    directory = tmp_path_factory.mktemp("cluster")
    suite_db = urlparse(os.environ.get("CUSTOS_DATABASE_URL", "mysql://root@127.0.0.1:3306/custos"))
    assert suite_db.scheme.startswith("mysql"), "the services pass runs on MariaDB"
    db_url = suite_db._replace(path=f"{suite_db.path}_cluster").geturl()
    redis = urlparse(os.environ.get("CUSTOS_REDIS_URL", "redis://127.0.0.1:6379/9"))
    redis_db = (int(redis.path.lstrip("/") or 0) + 1) % 16  # not the suite's: its tests flush theirs
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({
        "CUSTOS_CLUSTER_DIR": str(directory),
        "CUSTOS_DATABASE_URL": db_url,
        "CUSTOS_REDIS_URL": redis._replace(path=f"/{redis_db}").geturl(),
        "CUSTOS_BROKER_URL": amqp_url,
        "CUSTOS_CACHE_PREFIX": f"cluster-test-{os.getpid()}",
        "CUSTOS_CELERY_QUEUE": f"custos_cluster_test_{os.getpid()}",
        "CUSTOS_AUDIT_AMQP_EXCHANGE": audit_queue["exchange"],
        # every job of the schedule within seconds; the key ring re-read every second
        "CUSTOS_BEAT_EVERY": ",".join(f"{job}={'1s' if job == 'audit-export' else '3s'}" for job in JOBS),
        "CUSTOS_KEYRING_REFRESH": "1",
        "CUSTOS_AUDIT_SETTLE_SECONDS": "2",
        # one client address sends everything here: the per-IP limits are not what is tested
        "CUSTOS_IP_REQUESTS_LIMIT": "100000", "CUSTOS_REGISTER_IP_PER_HOUR": "10000",
        "CUSTOS_IP_FAILURES_LIMIT": "100000",
    })
    conn = _mysql(db_url)
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{urlparse(db_url).path.lstrip('/')}`")
    conn.close()
    c = Cluster(directory, env)
    out = open(directory / "make-cluster.out", "wb")
    # its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the group
    c.proc = subprocess.Popen(["make", "--no-print-directory", "cluster"], cwd=ROOT, env=env,
                              stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        up = _until(lambda: "cluster: up:" in c.output() or c.proc.poll() is not None, 120, 0.2)
        assert up is not None and c.proc.poll() is None, c.output()[-3000:]
        key = c.manage("create_service_key", "cluster-test")
        credential = next(line.split("ApiKey ", 1)[1] for line in key.splitlines() if "ApiKey " in line)
        c.secrets.update({credential, credential.split(".", 1)[-1]})
        c.manage("casbin_import", "-", stdin="g, svc:cluster-test, platform_admin, platform\n")
        c.service_auth = {"Authorization": f"ApiKey {credential}"}
        yield c
    finally:
        if c.proc.poll() is None:
            os.killpg(c.proc.pid, signal.SIGINT)
            try:
                c.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(c.proc.pid, signal.SIGKILL)
        _kill_leftovers(directory)
        out.close()
        from kombu import Connection, Exchange, Queue

        with Connection(amqp_url) as broker:  # the worker's queue and its exchange are this run's alone
            Queue(env["CUSTOS_CELERY_QUEUE"], channel=broker.channel()).delete()
            Exchange(env["CUSTOS_CELERY_QUEUE"], channel=broker.channel()).delete()
        conn = _mysql(db_url)
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{urlparse(db_url).path.lstrip('/')}`")
        conn.close()


def test_it_prints_where_each_part_logs(cluster):
    out = cluster.output()
    for name, url in (("web1", NODE1), ("web2", NODE2), ("worker", None), ("beat", None)):
        line = next((line for line in out.splitlines() if line.strip().startswith(f"cluster:   {name} ")), "")
        assert str(cluster.dir / f"{name}.log") in line, out
        assert url is None or url in line
    for base in (NODE1, NODE2):
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200  # database, cache, key, broker
    # one secret and one key directory for every process, both under the cluster's directory
    assert (cluster.dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert list((cluster.dir / "keys").iterdir())


def test_a_logout_on_one_node_is_refused_on_the_other_within_a_second(cluster):
    u = cluster.user(NODE1)
    me = f"{NODE2}/v1/users/me"
    auth = {"Authorization": f"Bearer {u['access_token']}"}
    assert requests.get(me, headers=auth, timeout=5).status_code == 200
    assert requests.post(f"{NODE1}/v1/auth/logout", headers=auth, timeout=5).status_code == 204
    took = _until(lambda: requests.get(me, headers=auth, timeout=5).status_code == 401, 3.0)
    assert took is not None and took < 1.0, took
    time.sleep(0.6)  # every worker of node 2 has polled the feed by now: none lets it through
    assert {requests.get(me, headers=auth, timeout=5).status_code for _ in range(12)} == {401}


def test_a_role_change_on_one_node_answers_on_the_other_within_a_second(cluster):
    u = cluster.user(NODE1)
    uid = u["user"]["id"]
    old = {"Authorization": f"Bearer {u['access_token']}"}
    events = f"{NODE2}/v1/audit/events"
    assert requests.get(events, headers=old, timeout=5).status_code == 403
    check = {"subject": f"user:{uid}", "tenant": "platform", "object": "/audit/events", "action": "read"}

    def allowed_on_node2() -> bool:
        r = requests.post(f"{NODE2}/v1/authz/check", json=check, headers=cluster.service_auth, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()["allowed"]

    assert not allowed_on_node2()
    r = requests.post(f"{NODE1}/v1/authz/users/{uid}/roles", json={"role": "auditor", "tenant": "platform"},
                      headers=cluster.service_auth, timeout=5)
    assert r.status_code == 201, r.text
    took = _until(allowed_on_node2, 3.0)
    assert took is not None and took < 1.0, took
    # the token issued before the change stops on node 2; a refresh there carries the new role
    took = _until(lambda: requests.get(events, headers=old, timeout=5).status_code == 401, 3.0)
    assert took is not None and took < 1.0, took
    r = requests.post(f"{NODE2}/v1/auth/refresh", json={"refresh_token": u["refresh_token"]}, timeout=5)
    assert r.status_code == 200, r.text
    fresh = r.json()
    cluster.secrets.update({fresh["access_token"], fresh["refresh_token"]})
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["roles"] == ["auditor"]
    assert requests.get(events, headers={"Authorization": f"Bearer {fresh['access_token']}"},
                        timeout=5).status_code == 200


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _audit_event_ids(cluster) -> set[str]:
    conn = _mysql(cluster.env["CUSTOS_DATABASE_URL"])
    try:
        conn.select_db(urlparse(cluster.env["CUSTOS_DATABASE_URL"]).path.lstrip("/"))
        cur = conn.cursor()
        cur.execute("SELECT event_id FROM audit_events")
        return {str(uuid.UUID(str(row[0]))) for row in cur.fetchall()}
    finally:
        conn.close()


def test_the_worker_delivers_every_audit_event_while_a_web_node_restarts(cluster, audit_queue):
    u = cluster.user(NODE2)
    stop, produced, errors = threading.Event(), {NODE1: 0, NODE2: 0}, {NODE1: 0, NODE2: 0}

    def produce() -> None:
        # sign-ins and sign-outs on both nodes, each a login.succeeded and a logout event
        while not stop.is_set():
            for base in (NODE2, NODE1):
                try:
                    pair = cluster.login(base, u["username"], u["password"])
                    requests.post(f"{base}/v1/auth/logout", timeout=5,
                                  headers={"Authorization": f"Bearer {pair['access_token']}"})
                    produced[base] += 1
                except (requests.RequestException, AssertionError):
                    errors[base] += 1  # node 1 is down for a while
            time.sleep(0.05)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    time.sleep(1.5)
    old_pid = cluster.pid("web1")
    killed_at = time.monotonic()
    os.kill(old_pid, signal.SIGTERM)  # gunicorn's graceful stop; the script starts it again
    back = _until(lambda: (cluster.dir / "web1.pid").exists() and cluster.pid("web1") != old_pid
                  and _ready(NODE1), 45, 0.1)
    back_at = time.monotonic()
    time.sleep(1.5)
    stop.set()
    producer.join(15)
    assert back is not None, cluster.output()[-2000:]
    assert "web1 exited with" in cluster.output()  # the death is reported
    assert produced[NODE2] > 5 and produced[NODE1] > 0, (produced, errors)

    wanted = _audit_event_ids(cluster)
    received = audit_queue["received"]
    arrived = _until(lambda: wanted <= {m for m, _ in received}, 30, 0.2)
    got = [m for m, _ in received]
    missing = wanted - set(got)
    assert arrived is not None and not missing, f"{len(missing)} of {len(wanted)} events never reached RabbitMQ"
    # while node 1 was down, the worker went on delivering node 2's events
    assert any(killed_at < at < back_at for _, at in received), (killed_at, back_at)
    # At least once is the promise (docs/audit.md): a duplicate would be allowed (consumers
    # deduplicate by the UUID), a loss is not; every message is an event of this cluster.
    assert set(got) <= _audit_event_ids(cluster)


def test_beat_runs_every_scheduled_job(cluster):
    def lines(name: str) -> list[dict]:
        return [json.loads(line) for line in (cluster.dir / f"{name}.log").read_text().splitlines() if line.strip()]

    def all_ran() -> bool:
        sent = {r.get("schedule") for r in lines("beat") if r["msg"].startswith("Scheduler: Sending due task")}
        done = {r.get("task_name") for r in lines("worker") if " succeeded in " in r["msg"]}
        return set(JOBS) <= sent and set(TASKS) <= done

    assert _until(all_ran, 20, 0.5) is not None, "beat did not send, or the worker did not run, every job"
    # the export's own bookkeeping: the RabbitMQ sink's run succeeded
    conn = _mysql(cluster.env["CUSTOS_DATABASE_URL"])
    try:
        conn.select_db(urlparse(cluster.env["CUSTOS_DATABASE_URL"]).path.lstrip("/"))
        cur = conn.cursor()
        cur.execute("SELECT last_success_at, last_error FROM audit_job_runs WHERE name = 'export:rabbitmq'")
        row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None and row[0] is not None and not row[1], row


def _jwks(base: str) -> dict[str, dict]:
    r = requests.get(f"{base}/internal/jwks.json", timeout=5)
    assert r.status_code == 200
    return {k["kid"]: k for k in r.json()["keys"]}


def test_both_nodes_serve_one_jwks_through_a_rotation(cluster):
    before = _jwks(NODE1)
    assert before == _jwks(NODE2)
    u = cluster.user(NODE1)
    old_token = u["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert old_kid in before
    cluster.manage("rotate_keys", "--delay", "3")
    (new_kid,) = _until_value(lambda: set(_jwks(NODE1)) - set(before) or None, 5)
    started = time.monotonic()
    while time.monotonic() - started < 5:  # published, then signing: the same set on both nodes
        one, two = _jwks(NODE1), _jwks(NODE2)
        if new_kid in one and new_kid in two:
            assert one == two and old_kid in one
        time.sleep(0.2)
    assert new_kid in _jwks(NODE2)
    # after the delay both nodes sign with the new key; every token verifies on either node
    fresh = {base: cluster.login(base, u["username"], u["password"])["access_token"] for base in (NODE1, NODE2)}
    assert {jwt.get_unverified_header(t)["kid"] for t in fresh.values()} == {new_kid}
    for token, base in ((old_token, NODE2), (fresh[NODE1], NODE2), (fresh[NODE2], NODE1)):
        assert requests.get(f"{base}/v1/users/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=5).status_code == 200
    assert _jwks(NODE1) == _jwks(NODE2)


def _until_value(fn, timeout: float):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"nothing within {timeout} s")


def test_every_log_line_is_json_and_holds_no_secret(cluster):
    names = ("web1", "web2", "worker", "beat")
    records: dict[str, list[dict]] = {}
    for name in names:
        text = (cluster.dir / f"{name}.log").read_text()
        records[name] = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                records[name].append(json.loads(line))
            except ValueError:
                pytest.fail(f"{name}.log line {number} is not JSON: {line[:200]!r}")
        for secret in cluster.secrets:
            assert secret not in text, f"a secret is in {name}.log"
    web = records["web1"] + records["web2"]
    signins = [r for r in web if r["logger"] == "custos.request" and r["path"] == "/v1/auth/login"
               and r["status"] == 200]
    assert signins and all(isinstance(r["user_id"], int) for r in signins)
    assert any(r["logger"] == "custos.request" and r["path"] == "/v1/auth/refresh" and r["status"] == 200
               and isinstance(r["user_id"], int) for r in web)
    access = [r for r in web if r["logger"] == "gunicorn.access"]
    assert access and all({"method", "path", "status", "latency_ms", "request_id"} <= set(r) for r in access)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["msg"] for r in web)
    assert any(r.get("task_name") == "audit.tasks.export_all" for r in records["worker"])


def test_ctrl_c_stops_every_process(cluster):
    children = {name: cluster.pid(name) for name in ("web1", "web2", "worker", "beat")}
    os.killpg(cluster.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    cluster.proc.wait(60)  # make itself reports the interrupt; the script's own words are below
    for name, pid in children.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert not (cluster.dir / f"{name}.pid").exists()
    assert cluster.output().rstrip().endswith("cluster: stopped"), cluster.output()[-2000:]
    for name in ("worker", "beat", "web1"):  # their goodbyes are JSON lines too
        last = (cluster.dir / f"{name}.log").read_text().splitlines()[-1]
        json.loads(last)
