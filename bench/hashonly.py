"""The ceiling of an HTTP sign-in on this machine: a WSGI app that checks one Argon2id hash per
request and does nothing else (no framework, no database, no token).

It runs under the same gunicorn and wrk as Custos and the baseline, so the gap between the bare
hash loop and this server is what HTTP, the worker model and the load generator cost, a share no
application can win back; the gap between this server and a sign-in is what the application costs.
`check` is also what bench.run's bare hash loop times, so the limit and this ceiling run the same code.

    BENCH_HASHONLY="libsodium:2,19456,1"   library (libsodium | argon2-cffi), then t,m,p
"""
from __future__ import annotations

import os

_LIBRARY, _PARAMS = os.environ.get("BENCH_HASHONLY", "libsodium:2,19456,1").split(":")
_T, _M, _P = (int(v) for v in _PARAMS.split(","))
_PASSWORD = b"bench passphrase 2026"

if _LIBRARY == "libsodium":
    from nacl.pwhash import argon2id

    _HASH = argon2id.str(_PASSWORD, opslimit=_T, memlimit=_M * 1024)

    def check() -> bool:
        return argon2id.verify(_HASH, _PASSWORD)
else:
    from argon2 import PasswordHasher

    _HASHER = PasswordHasher(time_cost=_T, memory_cost=_M, parallelism=_P)
    _HASH_STR = _HASHER.hash(_PASSWORD)

    def check() -> bool:
        return _HASHER.verify(_HASH_STR, _PASSWORD)


def app(environ: dict, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        check()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
