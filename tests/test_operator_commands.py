"""Operators' commands, as an operator runs them (a real `manage.py` process on a scratch
database): bad input is one line on stderr and a non-zero exit, never a traceback; service keys
get their roles at creation or later, and list with them (issue 19)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    var = tmp_path_factory.mktemp("ops")
    e = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    e.update({"CUSTOS_VAR_DIR": str(var), "CUSTOS_DATABASE_URL": f"sqlite:///{var / 'ops.sqlite3'}"})
    done = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return e


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, input=stdin)


def refused(out: subprocess.CompletedProcess) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    last = lines[-1]
    assert last.startswith(("CommandError: ", "manage.py ")) or ": error: " in last, out.stderr
    if last.startswith("CommandError: "):
        assert len(lines) == 1, out.stderr  # one line, nothing else
    return last


@pytest.mark.parametrize("args", [
    ("create_service_key", "bad name!"),
    ("create_service_key", "clotho-x", "--role", "no_such_role"),
    ("create_service_key", "clotho-y", "--role", "gateway", "--tenant", "abc"),
    ("create_service_key", "clotho-z", "--tenant", "-1"),
    ("revoke_service_key", "0000000000000000"),
    ("service_key", "grant", "never-made", "gateway"),
    ("service_key", "grant", "Bad Name", "gateway"),
    ("service_key", "bogus"),
    ("casbin_import", "/nonexistent/policy.csv"),
    ("casbin_export", "-o", "/nonexistent/dir/out.csv"),
    ("rotate_keys", "--alg", "HS256"),
    ("rotate_keys", "--delay", "soon"),
    ("oauth_provider", "add", "Bad Name", "--kind", "oidc", "--client-id", "a", "--client-secret", "b"),
    ("oauth_provider", "remove", "nothere"),
])
def test_bad_input_is_one_line_and_a_failure(env, args):
    refused(manage(env, *args))


def test_a_malformed_policy_file_is_refused_whole(env, tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("p, role:x, platform, /a, read\np, only, three\n")
    line = refused(manage(env, "casbin_import", str(bad)))
    assert "CommandError" in line
    assert "role:x" not in manage(env, "casbin_export").stdout  # nothing of it was written


def test_a_refused_role_leaves_no_key_behind(env):
    refused(manage(env, "create_service_key", "lonely", "--role", "no_such_role"))
    assert "lonely" not in manage(env, "service_key", "list").stdout


def test_service_keys_get_roles_at_creation_and_later(env):
    made = manage(env, "create_service_key", "clotho", "--role", "gateway")
    assert made.returncode == 0, made.stderr
    assert "role:    gateway in platform" in made.stdout and "Authorization: ApiKey " in made.stdout
    listed = manage(env, "service_key", "list").stdout
    row = next(line for line in listed.splitlines() if " clotho " in line)
    assert "active" in row and "gateway in platform" in row
    assert manage(env, "service_key", "grant", "clotho", "auditor").returncode == 0
    assert "auditor in platform" in manage(env, "service_key", "list").stdout
    assert manage(env, "service_key", "revoke", "clotho", "auditor").returncode == 0
    assert "auditor in platform" not in manage(env, "service_key", "list").stdout
    refused(manage(env, "service_key", "revoke", "clotho", "auditor"))  # held no more
    bare = manage(env, "create_service_key", "reporting")
    assert "role:    none yet" in bare.stdout


@pytest.mark.django_db
def test_a_key_made_with_a_role_can_do_what_the_role_allows(api, signing_key):
    from io import StringIO

    from django.core.management import call_command

    from authz.services import platform_roles_seed

    platform_roles_seed()
    out = StringIO()
    call_command("create_service_key", "gw", "--role", "gateway", stdout=out)
    credential = next(line.split("ApiKey ")[1] for line in out.getvalue().splitlines() if "ApiKey " in line)
    check = {"subject": "user:1", "tenant": "platform", "object": "/x", "action": "read"}
    r = api.post("/v1/authz/check", check, format="json", HTTP_AUTHORIZATION=f"ApiKey {credential}")
    assert r.status_code == 200, r.content
    r = api.post("/v1/authz/check", check, format="json", HTTP_AUTHORIZATION="ApiKey 0000000000000000.not-secret")
    assert r.status_code == 401
