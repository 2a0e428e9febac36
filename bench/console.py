"""The staff console at a million users: how long its main pages take to render, server-side.

    python -m bench.console [--users N] [--events N] [--rounds N]        (make bench-console)

Loads N users (with profiles, spread over 10 tenants and 40 email domains) and N audit events
into a MariaDB database of its own (`custos_bench_console`, kept between runs: a second run with
the same sizes loads nothing), then renders each page in-process through Django's test client
as a signed-in superuser (the time from the request entering Django to the response leaving it,
no network), a warm-up and then `--rounds` times, and writes the medians and p95s to
bench/RESULTS.md under "Console at scale". The target is 300 ms for each page. Timings live
here, never in the test suite."""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "custos_bench_console"
DOMAINS = [f"mail{i}.example.com" for i in range(39)] + ["example.org"]
ACTIONS = ["login.succeeded", "login.failed", "logout", "user.profile_updated", "mfa.enabled", "session.revoked",
           "password.changed", "role.granted"]
BATCH = 10_000
HASH = "argon2$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$0000000000000000000000000000000000000000000"
MARKER_BEGIN, MARKER_END = "<!-- console-bench:begin -->", "<!-- console-bench:end -->"


def _env() -> None:
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings",
                       "CUSTOS_DATABASE_URL": f"mysql://root@127.0.0.1:3306/{DB}",
                       "CUSTOS_VAR_DIR": str(ROOT / "bench" / "out" / "console-var"),
                       "CUSTOS_DEBUG": "false", "CUSTOS_LOG_LEVEL": "WARNING", "CUSTOS_CELERY_EAGER": "1"})
    for key in [k for k in os.environ if k in ("CUSTOS_REDIS_URL", "CUSTOS_BROKER_URL")]:
        del os.environ[key]  # the local-memory cache: the pages' own cost, not Redis's


def _database() -> None:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root")
    conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()


def _load(users: int, events: int) -> None:
    """Plain multi-row INSERTs in batches: a million rows in a minute or two, not an hour of ORM saves."""
    from django.db import connection

    from accounts.models import Tenant, User
    from audit.models import AuditEvent

    rng = random.Random(7)
    now = datetime.now(UTC).replace(tzinfo=None)
    if Tenant.objects.count() < 10:
        for i in range(10 - Tenant.objects.count()):
            Tenant.objects.create(name=f"bench tenant {i}")
    tenant_ids = list(Tenant.objects.values_list("id", flat=True)[:10])
    # resume where a run stopped: the count of bench<n> users, or done when the last one exists
    have = (users if User.objects.filter(username=f"bench{users - 1}").exists()
            else User.objects.filter(username__regex=r"^bench[0-9]+$").count())
    with connection.cursor() as cur:
        for start in range(have, users, BATCH):
            rows, profiles = [], []
            for i in range(start, min(start + BATCH, users)):
                created = now - timedelta(minutes=users - i)
                rows.append((f"bench{i}", f"user{i}@{DOMAINS[i % len(DOMAINS)]}", f"+8613{i:09d}", HASH,
                             "customer", tenant_ids[i % 10] if i % 3 else None, "active", 0, False, created, created,
                             created if i % 2 else None, "", None))
            cur.executemany(
                "INSERT INTO users (username, email, phone, password_hash, user_type, tenant_id, status, token_version,"
                " is_superuser, created_at, updated_at, email_verified_at, status_reason, merged_into_user_id)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
            ids = User.objects.filter(username__in=[r[0] for r in rows]).values_list("id", flat=True)
            profiles = [(uid, f"Bench {uid}", "other") for uid in ids]
            cur.executemany("INSERT INTO user_profiles (user_id, nickname, gender) VALUES (%s,%s,%s)", profiles)
            print(f"  users {min(start + BATCH, users):,}/{users:,}", end="\r", flush=True)
        print()
        first_user = User.objects.filter(username="bench0").values_list("id", flat=True).first() or 1
        have = AuditEvent.objects.count()
        for start in range(have, events, BATCH):
            rows = []
            for i in range(start, min(start + BATCH, events)):
                subject = first_user + rng.randrange(users)
                rows.append((uuid.uuid4().hex, now - timedelta(seconds=events - i), ACTIONS[i % len(ACTIONS)],
                             "success", "user", str(subject), subject, tenant_ids[subject % 10],
                             f"10.{i % 250}.{i % 199}.{i % 97}", "bench", "", "{}"))
            cur.executemany(
                "INSERT INTO audit_events (event_id, occurred_at, action, result, actor_type, actor_id,"
                " subject_user_id, tenant_id, ip, user_agent, request_id, metadata)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
            print(f"  audit events {min(start + BATCH, events):,}/{events:,}", end="\r", flush=True)
        print()
        cur.execute("ANALYZE TABLE users, user_profiles, audit_events")
        cur.fetchall()


def _pages(users: int) -> list[tuple[str, str]]:
    from accounts.models import User

    first = User.objects.filter(username="bench0").values_list("id", flat=True).get()
    middle = users // 2
    return [
        ("user list", "/admin/accounts/user/"),
        ("search by whole email", f"/admin/accounts/user/?q=user{middle}@{DOMAINS[middle % len(DOMAINS)]}"),
        ("search by email domain", "/admin/accounts/user/?q=%40example.org"),
        ("search by phone", f"/admin/accounts/user/?q=%2B86+13{middle:09d}"),
        ("a user's page", f"/admin/accounts/user/{first + middle}/change/"),
        ("audit list", "/admin/audit/auditevent/"),
        ("audit list of one user", f"/admin/audit/auditevent/?subject_user_id={first + middle}"),
    ]


def _time(client, url: str, rounds: int) -> tuple[float, float, int]:
    response = client.get(url)  # warm-up: templates, connections, caches
    status = response.status_code
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        status = response.status_code
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], status


def _write(results: list[tuple[str, str, float, float, int]], users: int, events: int) -> None:
    import django

    path = ROOT / "bench" / "RESULTS.md"
    lines = [MARKER_BEGIN, "## Console at scale (make bench-console)", "",
             f"- {users:,} users (with profiles, 10 tenants) and {events:,} audit events in MariaDB; Django "
             f"{django.get_version()}; run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine",
             "- server-side render time through Django's test client as a signed-in superuser (no network), "
             "after a warm-up; target < 300 ms each", "",
             "| page | URL | median ms | p95 ms | status | target |", "|---|---|---|---|---|---|"]
    for name, url, median, p95, status in results:
        lines.append(f"| {name} | `{url}` | {median:.1f} | {p95:.1f} | {status} | "
                     f"{'✅' if p95 < 300 and status == 200 else '❌'} |")
    lines.append(MARKER_END)
    text = path.read_text() if path.exists() else ""
    if MARKER_BEGIN in text:
        text = text[:text.index(MARKER_BEGIN)] + "\n".join(lines) + text[text.index(MARKER_END) + len(MARKER_END):]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    _env()
    _database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User

    call_command("migrate", verbosity=0)
    print(f"loading {args.users:,} users and {args.events:,} audit events into {DB} (kept between runs)")
    t = time.time()
    _load(args.users, args.events)
    print(f"loaded in {time.time() - t:.0f} s")
    setup_test_environment()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        username="bench-admin", password=None)
    client = Client()
    client.force_login(admin, backend="accounts.backends.CustosModelBackend")
    results = []
    for name, url in _pages(args.users):
        median, p95, status = _time(client, url, args.rounds)
        results.append((name, url, median, p95, status))
        print(f"{name:28s} median {median:7.1f} ms  p95 {p95:7.1f} ms  status {status}")
    if not args.no_write:
        _write(results, args.users, args.events)
    return 0 if all(r[4] == 200 and r[3] < 300 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
