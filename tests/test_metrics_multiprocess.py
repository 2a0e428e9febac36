"""/metrics under gunicorn with several workers (multiprocess mode): one scrape sees every
worker's counters, and promtool accepts the output."""
from __future__ import annotations

import shutil
import subprocess

import requests

from tests.server import running_custos


def test_metrics_aggregate_every_worker(tmp_path):
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    with running_custos(tmp_path, workers=3, extra_env={"PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}) as base:
        for _ in range(30):  # new connections: spread over the workers
            r = requests.post(f"{base}/v1/auth/login", json={"username": "nobody", "password": "nope"},
                              headers={"Connection": "close"}, timeout=10)
            assert r.status_code in (401, 429)
        text = requests.get(f"{base}/metrics", timeout=10).text
    failures = [line for line in text.splitlines()
                if line.startswith('custos_logins_total{method="password",result=')]
    total = sum(float(line.rsplit(" ", 1)[1]) for line in failures)
    assert total == 30, failures  # counted once each, whichever worker served it
    assert len(list(prom_dir.glob("*.db"))) >= 2  # the workers wrote their own files
    assert shutil.which("promtool"), "promtool (Debian package prometheus) is needed; .ci/run installs it"
    proc = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
