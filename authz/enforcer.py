"""The one policy engine per process, kept current across processes and hosts.

Every policy change writes an `authz_policy_changes` row (same transaction) naming the
domains it touched. The process that made it reloads those domains at commit; other
processes hear of it through the Redis watcher (redis-watcher, when CUSTOS_REDIS_URL is
set) and reload the same domains from the table, or, without Redis (the embedded
default's several workers), by polling the change table at most every 0.5 s."""
from __future__ import annotations

import ast
import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlparse

from django.db import close_old_connections, connection
from django.utils import timezone

from .adapter import fetch_rows, iter_all_rows
from .conf import conf
from .engine import PolicyIndex

log = logging.getLogger("custos.authz")
_OVERLAP = timedelta(seconds=10)
BACKSTOP_POLL = 5.0
FULL_RELOAD = "*"


class CustosEnforcer:
    def __init__(self, *, use_watcher: bool = True) -> None:
        self._index: PolicyIndex | None = None
        self._lock = threading.RLock()
        self._use_watcher = use_watcher
        self._watcher = None
        self._watcher_pid: int | None = None
        self._last_poll = 0.0
        self._poll_since = None
        self._seen_changes: set[int] = set()
        self.loaded_at: float | None = None
        self.load_seconds: float | None = None

    # ---- loading -------------------------------------------------------------------------
    def load(self) -> None:
        started = time.perf_counter()
        poll_from = timezone.now()
        index = PolicyIndex.from_rows(iter_all_rows())
        with self._lock:
            self._index = index
            self._poll_since = poll_from
            self.loaded_at = time.time()
            self.load_seconds = time.perf_counter() - started
        log.info("policy loaded", extra={"seconds": round(self.load_seconds, 3)})

    def reload_domains(self, domains: Iterable[str]) -> None:
        domains = sorted(set(domains))
        if not domains:
            return
        if FULL_RELOAD in domains:
            self.load()
            return
        rows = fetch_rows(domains)
        with self._lock:
            if self._index is None:
                return  # not loaded yet: the first load will read everything
            self._index.replace_domains(domains, rows)

    @property
    def index(self) -> PolicyIndex:
        idx = self._index
        if idx is None:
            with self._lock:
                if self._index is None:
                    self.load()
                idx = self._index
        self._keep_current()
        return idx  # type: ignore[return-value]

    # ---- questions -----------------------------------------------------------------------
    def enforce(self, sub: str, dom: str, obj: str, act: str) -> bool:
        return self.index.enforce(sub, dom, obj, act)

    def batch_enforce(self, requests: Iterable[tuple[str, str, str, str]]) -> list[bool]:
        idx = self.index
        return [idx.enforce(s, d, o, a) for s, d, o, a in requests]

    # ---- propagation ---------------------------------------------------------------------
    def changed(self, domains: Iterable[str]) -> None:
        """Called after a policy change committed: reload here, tell the others."""
        domains = sorted(set(domains))
        self.reload_domains(domains)
        if self._use_watcher and conf().redis_url:
            self._ensure_watcher()  # a process that only writes (a command, a shell) must publish too
        watcher = self._watcher
        if watcher is not None:
            try:
                watcher.update_for_remove_filtered_policy("p", "p", 1, *domains)
            except Exception:  # noqa: BLE001 - the change table still carries it
                log.warning("policy watcher publish failed")

    def _keep_current(self) -> None:
        interval = conf().poll_interval
        if self._use_watcher and conf().redis_url:
            self._ensure_watcher()
            # Pub/sub drops messages while a subscriber reconnects: the change table, read
            # rarely, is the backstop.
            interval = BACKSTOP_POLL
        now = time.monotonic()
        if now - self._last_poll < interval:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._last_poll = now
            self._poll_changes()
        finally:
            self._lock.release()

    def _poll_changes(self) -> None:
        from .models import PolicyChange

        if self._poll_since is None:
            return
        started = timezone.now()
        rows = list(PolicyChange.objects.filter(created_at__gte=self._poll_since - _OVERLAP)
                    .values_list("id", "domain"))
        fresh = {dom for pk, dom in rows if pk not in self._seen_changes}
        self._seen_changes = {pk for pk, _ in rows}
        self._poll_since = started
        if fresh:
            self.reload_domains(fresh)

    def _ensure_watcher(self) -> None:
        import os

        pid = os.getpid()
        if self._watcher is not None and self._watcher_pid == pid:
            return
        with self._lock:
            if self._watcher is not None and self._watcher_pid == pid:
                return
            self._watcher_pid = pid  # set first: a failing Redis must not be retried per request
            try:
                self._watcher = start_watcher(self._on_message)
            except Exception:  # noqa: BLE001
                log.warning("policy watcher unavailable; falling back to polling")
                self._use_watcher = False

    def stop_watcher(self) -> None:
        """Unsubscribe this enforcer's watcher and let its thread end: an enforcer thrown away
        (reset_enforcer) must not keep a subscriber that reloads, with a connection of its own,
        on every change."""
        watcher, self._watcher, self._use_watcher = self._watcher, None, False
        sub = getattr(watcher, "sub_client", None)
        if sub is not None:
            try:
                # its listen() loop ends once no channel is subscribed, and the thread with it
                # (closing the client here too made the thread's own clean-up fail)
                sub.unsubscribe()
            except Exception:  # noqa: BLE001 - already gone
                log.debug("policy watcher already closed")

    def _on_message(self, raw: str) -> None:
        try:
            domains = parse_watcher_message(raw, own_id=getattr(getattr(self._watcher, "options", None),
                                                                  "local_ID", None))
            if domains:
                close_old_connections()
                self.reload_domains(domains)
        except Exception:  # a bad message must not kill the subscriber thread
            log.exception("policy watcher callback failed")
        finally:
            connection.close()  # the subscriber thread's own connection


def parse_watcher_message(raw: str, own_id: str | None) -> list[str]:
    """Domains named by a redis-watcher message (its callback gets str() of redis's dict)."""
    item = ast.literal_eval(raw) if raw.startswith("{") else {"data": raw}
    data = item.get("data")
    if isinstance(data, bytes):
        data = data.decode()
    msg = json.loads(data)
    if own_id and msg.get("ID") == own_id:
        return []
    if msg.get("method") == "UpdateForRemoveFilteredPolicy":
        params = msg.get("params") or []
        text = params[0] if params and isinstance(params[0], str) else ""
        parts = text.split(" ")
        return [p for p in parts[1:] if p]
    return [FULL_RELOAD]


def start_watcher(callback):
    from redis_watcher import WatcherOptions, new_watcher

    url = urlparse(conf().redis_url)
    options = WatcherOptions()
    options.host = url.hostname or "127.0.0.1"
    options.port = str(url.port or 6379)
    options.password = url.password
    options.ssl = url.scheme == "rediss"
    options.channel = conf().watcher_channel
    if conf().redis_sentinels:
        # Behind Sentinel the URL's host names the master: ask the sentinels where it is now.
        # redis-watcher connects by host and port only; after a failover its reconnects may
        # reach the old master until this process restarts, and the policy-change table (read
        # every BACKSTOP_POLL seconds) carries every change meanwhile.
        from redis.sentinel import Sentinel

        sentinel = Sentinel(list(conf().redis_sentinels), socket_timeout=2,
                            sentinel_kwargs={"password": conf().redis_sentinel_password or None})
        host, port = sentinel.discover_master(url.hostname)
        options.host, options.port = host, str(port)
    options.optional_update_callback = callback
    watcher = new_watcher(options)
    watcher.set_update_callback(callback)
    return watcher


_enforcer: CustosEnforcer | None = None
_enforcer_lock = threading.Lock()


def enforcer() -> CustosEnforcer:
    global _enforcer
    if _enforcer is None:
        with _enforcer_lock:
            if _enforcer is None:
                _enforcer = CustosEnforcer()
    return _enforcer


def reset_enforcer() -> None:
    global _enforcer
    old, _enforcer = _enforcer, None
    if old is not None:
        old.stop_watcher()
