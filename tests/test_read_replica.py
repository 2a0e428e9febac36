"""The read replica (issue 18, docs/scaling.md): with CUSTOS_DATABASE_REPLICA_URL the console's
audit list and the audit export read the replica (the export only while it is close behind);
the token path never does. Run in a fresh process with a "replica" that is a second connection
to the same SQLite file, so which connection served each read can be seen."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from django.core.management import call_command
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext, setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)
call_command("ensure_signing_key")
from audit.services import Actor, event_record, _exportable
from custos import replica
with transaction.atomic():
    for _ in range(3):
        event_record(action="logout", actor=Actor.system("t"))
from audit.models import AuditEvent
out = {"alias": replica.read_alias(), "lag": replica.replica_lag(),
       "events": AuditEvent.objects.count()}
on_replica, on_primary = CaptureQueriesContext(connections["replica"]), CaptureQueriesContext(connections["default"])
with on_replica, on_primary:
    out["exported"] = len(_exportable(0, 10))
out["export_on_replica"] = sum("audit_events" in q["sql"] for q in on_replica.captured_queries)
out["export_on_primary"] = sum("audit_events" in q["sql"] for q in on_primary.captured_queries)
replica.replica_lag = lambda: None  # replication broken: the export falls back to the primary
on_replica, on_primary = CaptureQueriesContext(connections["replica"]), CaptureQueriesContext(connections["default"])
with on_replica, on_primary:
    _exportable(0, 10)
out["broken_on_replica"] = sum("audit_events" in q["sql"] for q in on_replica.captured_queries)
out["broken_on_primary"] = sum("audit_events" in q["sql"] for q in on_primary.captured_queries)
# the console's audit list
from accounts.models import User
from django.test import Client
admin = User.objects.create_superuser(username="root", password=None)
client = Client(); client.force_login(admin, backend="accounts.backends.CustosModelBackend")
with CaptureQueriesContext(connections["replica"]) as on_replica:
    status = client.get("/admin/audit/auditevent/").status_code
out["console_list"] = [status, sum("audit_events" in q["sql"] for q in on_replica.captured_queries)]
# the token path: a sign-in's reads all on the primary
from accounts.services import user_create
user_create(username="ann", password="a long passphrase for ann 42")
with CaptureQueriesContext(connections["replica"]) as on_replica:
    r = Client().post("/v1/auth/login", {"username": "ann", "password": "a long passphrase for ann 42"},
                      content_type="application/json")
out["login"] = [r.status_code, len(on_replica.captured_queries)]
print(json.dumps(out))
"""


def test_the_replica_serves_lists_and_the_export_never_the_token_path(tmp_path):
    db = tmp_path / "custos.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({"CUSTOS_VAR_DIR": str(tmp_path), "CUSTOS_DATABASE_URL": f"sqlite:///{db}",
                "CUSTOS_DATABASE_REPLICA_URL": f"sqlite:///{db}"})
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["alias"] == "replica" and got["lag"] == 0.0
    assert got["exported"] == got["events"] >= 3 and got["export_on_replica"] >= 1 and got["export_on_primary"] == 0
    assert got["broken_on_replica"] == 0 and got["broken_on_primary"] >= 1
    assert got["console_list"][0] == 200 and got["console_list"][1] >= 1
    assert got["login"][0] == 200 and got["login"][1] == 0, got["login"]


def test_without_a_replica_everything_reads_the_primary(settings):
    from custos import replica

    assert "replica" not in settings.DATABASES
    assert replica.read_alias() == "default" and replica.alias_within(30) == "default"
