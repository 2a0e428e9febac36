"""Does a password-reset request tell, by its timing, whether the account exists?

    python -m bench.reset_timing [--samples N] [--users N] [--workers N] [--gap-ms MS]   (make bench-reset)

Starts the embedded default the way `make run` serves it (gunicorn, SQLite under a fresh
var dir, eager Celery, console mail), creates accounts with email addresses, then sends
`POST /v1/auth/password/reset/request` for known and unknown addresses in a random
interleaved order (so load from the rest of the machine falls on both groups alike), one at
a time, each on a new connection, and times each answer on the client. The two groups are
compared with a two-sided Mann-Whitney U test (normal approximation with tie correction:
no scipy needed); p > 0.05 means the timings give no evidence of a difference. A timing
test belongs here, not in the suite: a shared CI machine's noise would make it flaky.

Every limit that would stop one client on one address is lifted for the run."""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = str(Path(PY).parent / "gunicorn")
PASSWORD = "bench passphrase 2026"
HUGE = "1000000000"

SETUP = """
import sys
import django
django.setup()
from accounts.services import user_create
from audit.services import Actor
for i in range(int(sys.argv[1])):
    # proven addresses: an unproven one may be no reset identifier
    user_create(username=f"reset{i}", email=f"reset{i}@bench.example", password=PASSWORD, verified="email",
                actor=Actor.system("bench"))
""".replace("PASSWORD", repr(PASSWORD))


COUNT_LINKS = """
import django
django.setup()
from accounts.models import PasswordResetToken
print(PasswordResetToken.objects.count())
"""


def mann_whitney_u(a: list[float], b: list[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test, normal approximation with tie and continuity
    correction (what scipy.stats.mannwhitneyu(method="asymptotic") computes). Returns (U of a, p)."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1  # mean rank of a run of equal values
        for k in range(i, j + 1):
            ranks[k] = rank
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, group) in zip(ranks, pooled) if group == 0)
    u1 = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return u1, 1.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(var)
    return u1, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "CUSTOS_VAR_DIR": str(var_dir), "CUSTOS_DEBUG": "false",
        "CUSTOS_LOG_LEVEL": "WARNING",
        # one client on one address, asking again and again for the same accounts: lift the limits
        "CUSTOS_IP_REQUESTS_LIMIT": HUGE, "CUSTOS_IP_FAILURES_LIMIT": HUGE, "CUSTOS_RESET_IP_PER_HOUR": HUGE,
        "CUSTOS_RESET_DEST_PER_HOUR": HUGE, "CUSTOS_REGISTER_IP_PER_HOUR": HUGE,
    })
    return env


def run(args: argparse.Namespace) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="custos-reset-timing-"))
    env = environment(var_dir)
    try:
        for cmd in (["migrate", "--no-input", "-v", "0"], ["ensure_signing_key"]):
            subprocess.run([PY, "manage.py", *cmd], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([PY, "-c", SETUP, str(args.users)], cwd=ROOT, env=env, check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen([GUNICORN, "config.wsgi:application", "-c", "config/gunicorn.py",
                                   "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                                   "--log-level", "warning", "--no-control-socket"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            out = measure(f"http://127.0.0.1:{port}", args)
        finally:
            server.terminate()
            server.wait(20)
        # the work did happen, only after the answers: one link per request for a known account
        count = subprocess.run([PY, "-c", COUNT_LINKS], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        out["links"] = int(count.stdout.strip().splitlines()[-1])
        return out
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def measure(base: str, args: argparse.Namespace) -> dict:
    url = f"{base}/v1/auth/password/reset/request"
    for _ in range(300):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    rng = random.Random(args.seed)
    plan = ["known"] * args.samples + ["unknown"] * args.samples
    rng.shuffle(plan)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    statuses: set[int] = set()
    for i, kind in enumerate(["known", "unknown"] * args.warmup + plan):
        address = (f"reset{rng.randrange(args.users)}@bench.example" if kind == "known"
                   else f"nobody{rng.getrandbits(64):x}@bench.example")
        start = time.perf_counter()
        r = requests.post(url, json={"identifier": address}, timeout=30)
        elapsed = time.perf_counter() - start
        statuses.add(r.status_code)
        if i >= 2 * args.warmup:
            times[kind].append(elapsed * 1000)
        # let whatever the server does after answering finish before the next probe, so
        # one probe's after-work does not land on the next one's clock
        time.sleep(args.gap_ms / 1000)
    u, p = mann_whitney_u(times["known"], times["unknown"])
    return {"times": times, "u": u, "p": p, "statuses": sorted(statuses), "known_sent": args.warmup + args.samples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=300, help="requests per group (known, unknown)")
    ap.add_argument("--users", type=int, default=50, help="accounts to spread the known requests over")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn sync workers")
    ap.add_argument("--warmup", type=int, default=20, help="untimed pairs first")
    ap.add_argument("--gap-ms", type=float, default=40.0, help="pause between requests")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    out = run(args)
    known, unknown = out["times"]["known"], out["times"]["unknown"]
    print(f"reset request timing, {len(known)} known vs {len(unknown)} unknown accounts "
          f"(statuses {out['statuses']}):")
    for name, xs in (("known", known), ("unknown", unknown)):
        q = statistics.quantiles(xs, n=10)
        print(f"  {name:8} median {statistics.median(xs):6.2f} ms   p10 {q[0]:6.2f}   p90 {q[-1]:6.2f}   "
              f"mean {statistics.fmean(xs):6.2f}")
    print(f"  reset links issued: {out['links']} for {out['known_sent']} requests for known accounts")
    verdict = "no evidence of a difference" if out["p"] > 0.05 else "THE TIMINGS DIFFER"
    print(f"  Mann-Whitney U = {out['u']:.0f}, two-sided p = {out['p']:.3g}: {verdict} (alpha 0.05)")
    sys.exit(0 if out["p"] > 0.05 else 1)


if __name__ == "__main__":
    main()
