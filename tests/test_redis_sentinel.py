"""Redis Sentinel (issue 18, docs/scaling.md): with CUSTOS_REDIS_SENTINELS the cache and the policy
watcher find the master through a real sentinel (redis-server --sentinel on a free port, watching
this machine's Redis), not through a fixed address."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SERVICES
from tests.server import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not SERVICES, reason="needs Redis (CUSTOS_TEST_SERVICES=1)")


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    port = free_port()
    conf = tmp_path_factory.mktemp("sentinel") / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor custos-master 127.0.0.1 6379 1\n")
    proc = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        out = subprocess.run(["redis-cli", "-p", str(port), "sentinel", "get-master-addr-by-name", "custos-master"],
                             capture_output=True, text=True)
        if out.stdout.split() == ["127.0.0.1", "6379"]:
            break
        time.sleep(0.2)
    else:
        proc.terminate()
        raise AssertionError("the sentinel never named the master")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_cache_and_watcher_find_the_master_through_the_sentinel(sentinel, tmp_path):
    code = """
import os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from django.conf import settings
from django.core.cache import cache
from authz.enforcer import start_watcher
cache.set("sentinel-probe", "through the sentinel", 30)
got = cache.get("sentinel-probe")
heard = []
w = start_watcher(lambda msg: heard.append(msg))
print(json.dumps({"client": settings.CACHES["default"]["OPTIONS"]["CLIENT_CLASS"], "got": got,
                  "watcher": [w.options.host, str(w.options.port)]}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({"CUSTOS_VAR_DIR": str(tmp_path), "CUSTOS_REDIS_URL": "redis://custos-master/12",
                "CUSTOS_REDIS_SENTINELS": f"127.0.0.1:{sentinel}"})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"client": "django_redis.client.SentinelClient", "got": "through the sentinel",
                      "watcher": ["127.0.0.1", "6379"]}
    # the value is really in the master the sentinel named (database 12)
    keys = subprocess.run(["redis-cli", "-n", "12", "--scan", "--pattern", "*sentinel-probe*"],
                          capture_output=True, text=True).stdout.split()
    assert keys, "the cache wrote nowhere the sentinel's master holds"
    subprocess.run(["redis-cli", "-n", "12", "del", *keys], capture_output=True)


def test_a_sentinel_that_knows_no_such_master_stops_the_watcher(sentinel, tmp_path):
    code = ("import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); import django; "
            "django.setup(); from authz.enforcer import start_watcher; start_watcher(lambda m: None)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOS_")}
    env.update({"CUSTOS_VAR_DIR": str(tmp_path), "CUSTOS_REDIS_URL": "redis://no-such-master/12",
                "CUSTOS_REDIS_SENTINELS": f"127.0.0.1:{sentinel}"})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "MasterNotFoundError" in out.stderr
