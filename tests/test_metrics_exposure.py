"""/metrics (issue 18): open only to CUSTOS_METRICS_ALLOW (loopback by default), and every
counter's known label sets exist at 0 on a fresh process, before anything happened."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_metrics_are_for_the_monitoring_networks_only(settings):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="10.1.2.3").get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert b"custos_logins" not in refused.content
    settings.CUSTOS_METRICS_ALLOW = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


@pytest.mark.django_db
def test_a_forwarded_address_counts_only_through_a_trusted_proxy(settings):
    settings.CUSTOS_METRICS_ALLOW = ["10.0.0.0/8"]
    # a client outside cannot claim an inside address
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 403


def test_a_fresh_process_shows_every_known_series_at_zero(tmp_path):
    code = ("import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); import django; "
            "django.setup(); from django.test import Client; from django.test.utils import setup_test_environment; "
            "setup_test_environment(); import sys; sys.stdout.write(Client().get('/metrics').content.decode())")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOS_", "PROMETHEUS_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**env, "CUSTOS_VAR_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for series in ('custos_logins_total{method="password",result="success"} 0.0',
                   'custos_logins_total{method="sms_otp",result="throttled"} 0.0',
                   'custos_refreshes_total{result="reused"} 0.0',
                   'custos_lockouts_total{kind="hard"} 0.0',
                   'custos_otp_sent_total{channel="email",purpose="login"} 0.0',
                   'custos_mfa_results_total{method="totp",result="failure"} 0.0',
                   'custos_authz_checks_total{decision="denied"} 0.0',
                   'custos_forced_logouts_total{scope="user"} 0.0',
                   'custos_jwks_requests_total{status="304"} 0.0'):
        assert series in text, series
    assert not re.search(r'^custos_logins_total\{[^}]*\} [1-9]', text, re.M)
