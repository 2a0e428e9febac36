"""docker-compose.yml and the Dockerfile (issue 18): images cannot be pulled here, so the file is
checked by a compose tool (Debian's docker-compose: `config` validates and resolves it, no
daemon needed) and against config/: every CUSTOS_* it sets is a setting Custos reads."""
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = {"CUSTOS_ISSUER": "https://id.example.com", "CUSTOS_ALLOWED_HOSTS": "id.example.com"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The compose file, the Dockerfile and secrets as scripts/compose-secrets.sh writes them."""
    d = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, d / name)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "compose-secrets.sh"), str(d / "secrets")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return d


def _compose(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is required (scripts/system-deps.sh installs Debian's package)"
    return subprocess.run([exe, "--project-directory", str(project), "-f", str(project / "docker-compose.yml"),
                           *args], cwd=project, capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")},
                               **(env if env is not None else ENV)})


@pytest.fixture(scope="module")
def resolved(project) -> dict:
    out = _compose(project, "config")
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_the_compose_file_is_valid_and_needs_the_public_address(project):
    assert _compose(project, "config", "-q").returncode == 0
    missing = _compose(project, "config", "-q", env={})
    assert missing.returncode != 0 and "CUSTOS_ISSUER" in missing.stderr


def test_the_topology(resolved):
    services = resolved["services"]
    assert set(services) == {"mariadb", "redis", "rabbitmq", "migrate", "web", "worker", "beat"}
    assert services["mariadb"]["image"] == "mariadb:11" and services["redis"]["image"] == "redis:7"
    assert services["rabbitmq"]["image"] == "rabbitmq:3"  # not -management
    assert "ports" not in services["rabbitmq"]
    assert services["web"]["deploy"]["replicas"] == 2 and services["beat"]["deploy"]["replicas"] == 1
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert "-Q" in services["worker"]["command"] and "custos" in services["worker"]["command"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name, svc in services.items():  # every long-running service says when it is healthy
        if name != "migrate":
            assert svc.get("healthcheck", {}).get("test"), name
    # dependency order: the data stores, then the one-shot migration, then the Custos processes
    assert services["migrate"]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["rabbitmq"]["condition"] == "service_healthy", name
    # one keys volume, shared by every container that signs or verifies
    for name in ("migrate", "web", "worker", "beat"):
        mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services[name]["volumes"]]
        assert any(m.split(":")[:2] == ["keys", "/var/lib/custos/keys"] for m in mounts), (name, mounts)


def test_secrets_are_files_never_environment(resolved, project):
    for name in ("migrate", "web", "worker", "beat"):
        env = resolved["services"][name]["environment"]
        for secret in ("CUSTOS_SECRET_KEY", "CUSTOS_DATABASE_URL", "CUSTOS_BROKER_URL", "CUSTOS_AUDIT_AMQP_URL"):
            assert secret not in env, (name, secret)
        assert env["CUSTOS_SECRET_KEY_FILE"].startswith("/run/secrets/")
    for f in (project / "secrets").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    text = (project / "secrets" / "database_url").read_text()
    assert re.fullmatch(r"mysql://custos:[\w-]{20,}@mariadb:3306/custos\n", text)


def test_the_secrets_script_keeps_what_exists(project):
    before = {f.name: f.read_text() for f in (project / "secrets").iterdir()}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "compose-secrets.sh"), str(project / "secrets")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert {f.name: f.read_text() for f in (project / "secrets").iterdir()} == before


def _settings_read() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "config").glob("*.py"):
        names |= set(re.findall(r'"(CUSTOS_[A-Z0-9_]+)"', path.read_text()))
    return names


def test_every_custos_variable_it_sets_is_a_setting(resolved):
    known = _settings_read()
    assert "CUSTOS_ISSUER" in known and len(known) > 50  # the scan itself finds the settings
    for name, svc in resolved["services"].items():
        for var in svc.get("environment") or {}:
            if var.startswith("CUSTOS_"):
                base = var[:-5] if var.endswith("_FILE") else var
                assert base in known, (name, var)
    dockerfile = (ROOT / "Dockerfile").read_text()
    for var in re.findall(r"\b(CUSTOS_[A-Z0-9_]+)=", dockerfile):
        assert var in known, var


def test_the_dockerfile_is_multi_stage_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(stages) >= 2 and stages[0][1] == "build"
    final = text[text.rindex("\nFROM"):]
    assert "COPY --from=build /venv /venv" in final
    assert "build-essential" not in final and "libmariadb-dev" not in final  # the build tools stay behind
    assert re.search(r"^USER custos$", final, re.M) and "HEALTHCHECK" in final
    for room in ("config", "custos", "audit", "keys", "accounts", "authz", "sessions_app", "federation",
                 "templates"):
        assert f"COPY {room} ./{room}" in final, room
