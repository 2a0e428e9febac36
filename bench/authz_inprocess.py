"""One engine, one process: load the policy, then time checks. Prints one JSON line.

    python -m bench.authz_inprocess --engine custos|stock --tenants T --policies P --assignments A

The database is the one CUSTOS_VAR_DIR / CUSTOS_DATABASE_URL point at; bench/run_authz.py
fills it once per scale and runs both engines alternately."""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["custos", "stock"], required=True)
    ap.add_argument("--tenants", type=int, required=True)
    ap.add_argument("--policies", type=int, required=True)
    ap.add_argument("--assignments", type=int, required=True)
    ap.add_argument("--checks", type=int, default=20000)
    ap.add_argument("--batch", action="store_true", help="also time POST /v1/authz/check-batch (100 checks)")
    args = ap.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from bench.authz_data import random_requests

    requests = random_requests(args.checks, tenants=args.tenants, assignments=args.assignments)
    base_rss = rss_mb()
    t0 = time.perf_counter()
    if args.engine == "custos":
        from authz.enforcer import CustosEnforcer

        engine = CustosEnforcer(use_watcher=False)
        engine.load()
        enforce = engine.index.enforce
    else:
        import casbin

        from authz.adapter import CustosAdapter
        from authz.conf import MODEL_PATH

        engine = casbin.Enforcer(str(MODEL_PATH), CustosAdapter())
        enforce = engine.enforce
    load_s = time.perf_counter() - t0
    held_mb = rss_mb() - base_rss

    # first check in each tenant ("cold"), then the random mix
    cold = []
    for t in range(min(args.tenants, 200 if args.engine == "stock" else args.tenants)):
        s = time.perf_counter_ns()
        enforce(f"user:{t * max(1, args.assignments // args.tenants) + 1}", f"tenant:{t + 1}", "/orders/1", "read")
        cold.append((time.perf_counter_ns() - s) / 1000)
        if args.engine == "stock" and sum(cold) > float(os.environ.get("BENCH_STOCK_BUDGET", 20)) * 1e6:
            break
    lat = []
    allowed = 0
    budget = time.perf_counter() + (float(os.environ.get("BENCH_STOCK_BUDGET", 60)) if args.engine == "stock"
                                    else 120)
    for r in requests:
        s = time.perf_counter_ns()
        allowed += bool(enforce(*r))
        lat.append((time.perf_counter_ns() - s) / 1000)
        if time.perf_counter() > budget:
            break
    out = {"engine": args.engine, "load_s": round(load_s, 3), "held_mb": round(held_mb, 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "checks": len(lat), "allowed": allowed,
           "p50_us": round(statistics.median(lat), 1), "p99_us": round(pct(lat, 0.99), 1),
           "cold_n": len(cold), "cold_p99_us": round(pct(cold, 0.99), 1), "cold_max_us": round(max(cold), 1)}

    if args.batch and args.engine == "custos":
        out.update(batch_timing(args))
    print(json.dumps(out))


def batch_timing(args) -> dict:
    """Server time of POST /v1/authz/check-batch with 100 checks, through the whole Django
    stack (middleware, service-key authentication, parsing, engine, rendering)."""
    from django.db import transaction
    from django.test import Client

    from audit.services import Actor
    from authz import services
    from bench.authz_data import random_requests

    svc = f"bench{int(time.time())}"
    with transaction.atomic():
        _, credential = services.service_key_create(name=svc, actor=Actor.system("bench"))
    services.platform_roles_seed()
    services.subject_role_grant(subject=f"svc:{svc}", role="gateway", domain="platform",
                                actor=Actor.system("bench"))
    from authz.enforcer import enforcer

    enforcer().load()
    client = Client()
    reqs = [r for r in random_requests(100 * 400, tenants=args.tenants, assignments=args.assignments, seed=5)
            if r[0].startswith("user:")][:100 * 300]
    bodies = [json.dumps({"checks": [{"subject": s, "tenant": int(d[7:]) if d.startswith("tenant:") else "platform",
                                      "object": o, "action": a} for s, d, o, a in reqs[i:i + 100]]})
              for i in range(0, len(reqs), 100)]
    headers = {"HTTP_AUTHORIZATION": f"ApiKey {credential}"}
    times = []
    for body in bodies:
        s = time.perf_counter()
        r = client.post("/v1/authz/check-batch", data=body, content_type="application/json", **headers)
        times.append((time.perf_counter() - s) * 1000)
        assert r.status_code == 200, r.content
    times = times[20:]  # warm-up
    return {"batch100_p50_ms": round(statistics.median(times), 3), "batch100_p99_ms": round(pct(times, 0.99), 3)}


if __name__ == "__main__":
    sys.exit(main())
