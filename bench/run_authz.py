"""In-process authorization: Custos's engine beside the stock pycasbin Enforcer, same policy,
same process shape, alternated A B A B; medians reported. Writes bench/out/authz-<scale>.json
and prints a Markdown table.

    python -m bench.run_authz [--scales 1k,100k,1m] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SCALES = {  # tenants, policies, assignments
    "1k": (10, 100, 1_000),
    "10k": (30, 1_000, 10_000),  # quick mode's second scale (the stock Enforcer is slow past it)
    "100k": (100, 10_000, 100_000),
    "1m": (1_000, 100_000, 1_000_000),
}


def env_for(scale: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env["CUSTOS_VAR_DIR"] = str(OUT / f"authz-{scale}")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env["CUSTOS_LOG_LEVEL"] = "WARNING"
    return env


def prepare(scale: str) -> None:
    tenants, policies, assignments = SCALES[scale]
    env = env_for(scale)
    marker = Path(env["CUSTOS_VAR_DIR"]) / "filled"
    if marker.exists():
        return
    Path(env["CUSTOS_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    code = ("import django; django.setup(); from bench.authz_data import write_to_db; "
            f"print(write_to_db(tenants={tenants}, policies={policies}, assignments={assignments}))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    marker.write_text("ok")


def run(scale: str, engine: str, batch: bool) -> dict:
    tenants, policies, assignments = SCALES[scale]
    cmd = [sys.executable, "-m", "bench.authz_inprocess", "--engine", engine, "--tenants", str(tenants),
           "--policies", str(policies), "--assignments", str(assignments),
           "--checks", "20000" if engine == "custos" else "2000"]
    if batch:
        cmd.append("--batch")
    proc = subprocess.run(cmd, cwd=ROOT, env=env_for(scale), capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="1k,100k,1m")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in args.scales.split(","):
        prepare(scale)
        results: dict[str, list[dict]] = {"custos": [], "stock": []}
        for _ in range(args.rounds):
            for engine in ("custos", "stock"):  # A B A B
                results[engine].append(run(scale, engine, batch=(engine == "custos")))
        (OUT / f"authz-{scale}.json").write_text(json.dumps(results, indent=1))
        c, s = results["custos"], results["stock"]
        rows.append((scale, c, s))
    print(table(rows))


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def table(rows) -> str:
    lines = ["| assignments | metric | Custos | stock Enforcer | stock / Custos |", "|---|---|---|---|---|"]
    for scale, c, s in rows:
        for key, label in (("p50_us", "check p50 (µs)"), ("p99_us", "check p99 (µs)"),
                           ("cold_p99_us", "first check in a cold tenant, p99 (µs)"),
                           ("load_s", "load whole policy (s)"), ("held_mb", "memory held by the policy (MB)")):
            cv, sv = median_of(c, key), median_of(s, key)
            ratio = f"{sv / cv:,.0f}×" if cv and sv / cv >= 10 else (f"{sv / cv:,.1f}×" if cv else "-")
            lines.append(f"| {scale} | {label} | {fmt(cv)} | {fmt(sv)} | {ratio} |")
        if "batch100_p50_ms" in c[0]:
            lines.append(f"| {scale} | POST check-batch, 100 checks, server p50 / p99 (ms) | "
                         f"{median_of(c, 'batch100_p50_ms'):.2f} / {median_of(c, 'batch100_p99_ms'):.2f} | - | - |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
