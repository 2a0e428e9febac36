"""Every lean path of Custos, in one place: what it serves, why it is lean, and where
everything it does not serve goes.

These are the requests on every call's way through Clotho (and each verifier's key fetch).
Their own work is small (a cached lookup, a decision from an in-memory snapshot, a token
check), so the machinery around it would dominate: DRF's dispatch (request wrapping,
content negotiation, authentication and permission loops, response finalization) costs
more than `/users/me` or `/authz/check` themselves, and Django's middleware and URL
resolution cost several times what the JWKS bytes do. A lean path calls the same
authentication functions, services, selectors and error envelope as the full view, and
answers in the same bytes (tests/test_hostile_input.py compares them); it only skips the
machinery. The mechanism is custos.fastview (`lean`: serve these methods, hand every other
one to the DRF view). Anything added to one of these paths shows in `make bench`: measure.

`ROUTES` are Django views tried before every other URL (config/urls.py puts them first);
`wsgi` wraps the whole application (config/wsgi.py) for what never needs Django at all."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import URLPattern, path

from accounts.api import fast as accounts_fast
from authz.api import fast as authz_fast
from keys.api import fast as keys_fast
from keys.api import views as keys_views
from sessions_app.api import fast as sessions_fast


@dataclass(frozen=True)
class Lean:
    route: str
    view: Callable
    name: str
    methods: tuple[str, ...]
    why: str
    fallback: str


ROUTES: tuple[Lean, ...] = (
    Lean("internal/jwks.json", keys_views.jwks, "jwks", ("GET",),
         why="fetched by every verifier, the same bytes for all: a plain Django view, no DRF",
         fallback="none: other methods are 405 (require_GET). Under gunicorn the WSGI wrapper below "
                  "answers first; this view serves whatever reaches Django (the test client, runserver)"),
    Lean("v1/authz/check", authz_fast.check, "authz-check-hot", ("POST",),
         why="Clotho asks it on requests it cannot decide from the token's roles; the decision "
             "is one lookup in the enforcer's snapshot, cheaper than DRF's dispatch",
         fallback="every other method: authz.api.views.CheckView (DRF)"),
    Lean("v1/authz/check-batch", authz_fast.check_batch, "authz-check-batch-hot", ("POST",),
         why="the same decisions as /v1/authz/check, several per request",
         fallback="every other method: authz.api.views.CheckBatchView (DRF)"),
    Lean("v1/users/me", accounts_fast.me, "me-hot", ("GET",),
         why="every front end reads it on each page; the answer is cached JSON bytes "
             "(Redis, one second per process), so a hit renders nothing",
         fallback="PATCH, DELETE and the rest: accounts.api.views.profile.MeView (DRF)"),
    Lean("v1/auth/refresh", sessions_fast.refresh, "refresh-hot", ("POST",),
         why="every client refreshes every access-token lifetime; the rotation is five plain "
             "SQL statements in three executes, less than the serializer and DRF dispatch around them",
         fallback="other methods, and any body that is not a well-formed JSON object with a plain "
                  "string refresh_token: sessions_app.api.views.RefreshView (DRF), so refusals keep "
                  "the serializer's exact messages"),
    Lean("v1/auth/login", sessions_fast.login_password, "login-hot", ("POST",),
         why="the password sign-in: besides the Argon2 check, every millisecond here is the "
             "difference to a bare hash loop (bench/RESULTS.md)",
         fallback="other methods, and any body that is not a well-formed JSON object with plain "
                  "string username and password: sessions_app.api.views.LoginView (DRF)"),
)

urlpatterns: list[URLPattern] = [path(r.route, r.view, name=r.name) for r in ROUTES]


def wsgi(application: Callable) -> Callable:
    """The JWKS (GET/HEAD on /internal/jwks.json and /.well-known/jwks.json) is answered in
    front of Django from the key ring's rendered bytes, with ETag, If-None-Match and its own
    counter (custos_jwks_requests_total), since django-prometheus never sees these requests;
    everything else goes to Django unchanged (keys/api/fast.py)."""
    return keys_fast.JwksFastPath(application)
