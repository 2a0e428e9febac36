"""A logout or kick reaches every gunicorn worker within one second (embedded default:
SQLite and local-memory cache, several workers), with no per-request database check."""
from __future__ import annotations

import time

import requests

from tests.server import manage, running_custos

PW = "a perfectly fine passphrase"


def _hammer(base: str, token: str, n: int = 30) -> list[int]:
    # a new connection each time, so the requests spread over the workers
    return [requests.get(f"{base}/v1/users/me", headers={"Authorization": f"Bearer {token}",
                                                        "Connection": "close"}, timeout=10).status_code
            for _ in range(n)]


def test_logout_and_kick_reach_every_worker_within_a_second(tmp_path):
    with running_custos(tmp_path, workers=3) as base:
        assert requests.post(f"{base}/v1/auth/register", json={"username": "carol", "password": PW},
                             timeout=10).status_code == 201

        def login() -> dict:
            r = requests.post(f"{base}/v1/auth/login", json={"username": "carol", "password": PW}, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()

        a, b = login(), login()
        assert set(_hammer(base, a["access_token"])) == {200}  # every worker has seen and accepted it
        assert set(_hammer(base, b["access_token"])) == {200}

        assert requests.post(f"{base}/v1/auth/logout", headers={"Authorization": f"Bearer {a['access_token']}"},
                             timeout=10).status_code == 204
        time.sleep(1.0)
        assert set(_hammer(base, a["access_token"])) == {401}
        assert set(_hammer(base, b["access_token"])) == {200}  # the other session lives on

        # a kick from another process (an operator's shell) reaches them too
        manage(tmp_path, "shell", "-c",
               "from accounts.models import User; from sessions_app.services import force_logout_user; "
               "from audit.services import Actor; "
               "force_logout_user(user_id=User.objects.get(username='carol').pk, actor=Actor.system('test'))")
        time.sleep(1.0)
        assert set(_hammer(base, b["access_token"])) == {401}
