"""The JWKS, served in front of Django (listed in config/hot.py, installed by config/wsgi.py).

Every verifier (Clotho, other services, each SDK instance) fetches the key set, and it is
the same bytes for all: running it through middleware, URL resolution and a view would
cost several times what producing it costs. This WSGI wrapper answers GET/HEAD on the two
JWKS paths from the key ring's rendered document (ETag, If-None-Match, Cache-Control) and
hands everything else to Django unchanged. Its requests are counted in
custos_jwks_requests_total, since django-prometheus's middleware never sees them."""
from __future__ import annotations

import re
import uuid

from prometheus_client import Counter

from custos import metrics
from custos.middleware import SECURITY_HEADERS
from keys.conf import conf
from keys.selectors import keyring

JWKS_PATHS = frozenset({"/internal/jwks.json", "/.well-known/jwks.json"})
JWKS_REQUESTS = Counter("custos_jwks_requests", "JWKS documents served (or 304s)", ["status"])
metrics.zero_known([(JWKS_REQUESTS, [("200",), ("304",)])])
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class JwksFastPath:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") not in JWKS_PATHS or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        body, etag = keyring().jwks_document()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        # the headers every Django answer gets from RequestContextMiddleware, which never sees this one
        headers = [("Cache-Control", f"public, max-age={conf().jwks_max_age}"), ("ETag", etag), *SECURITY_HEADERS,
                   ("X-Request-Id", incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex)]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            JWKS_REQUESTS.labels("304").inc()
            start_response("304 Not Modified", headers)
            return [b""]
        JWKS_REQUESTS.labels("200").inc()
        start_response("200 OK", [("Content-Type", "application/jwk-set+json"),
                                  ("Content-Length", str(len(body))), *headers])
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]
