"""Environment reading. Every CUSTOS_* variable is read here and only here."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """NAME, or the contents of the file NAME_FILE names (Docker and Kubernetes secrets are
    files: a secret need not sit in the environment, where `ps e` and crash dumps show it)."""
    value = os.environ.get(name)
    if value is not None:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise RuntimeError(f"{name}_FILE names {path!r}, which cannot be read ({type(exc).__name__})") from exc
    return default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return int(raw)


def env_duration(name: str, default: int) -> int:
    """Seconds, from `3600`, `90s`, `30m`, `12h` or `90d`."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (raw[:-1], units[raw[-1]]) if raw[-1] in units else (raw, 1)
    try:
        return int(number) * unit
    except ValueError as exc:
        raise RuntimeError(f"{name} is a duration like 3600, 30m, 12h or 90d, not {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def var_dir() -> Path:
    path = Path(env_str("CUSTOS_VAR_DIR", str(BASE_DIR / "var")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key() -> str:
    """CUSTOS_SECRET_KEY, or a random one generated once under var/ (mode 0600).

    There is no built-in default secret: a fresh machine gets its own.
    """
    value = env_str("CUSTOS_SECRET_KEY")
    if value:
        return value
    path = var_dir() / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    candidate = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(candidate)
    return candidate
