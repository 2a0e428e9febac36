"""A user's whole "Continue with Acme" journey in a real browser (Debian chromium driven by
playwright), against a live Custos (gunicorn, tests/server.py) and a live OpenID provider (npm
oidc-provider, tests/js/oidc_idp.mjs, whose client must use PKCE).

The setup, and why: the front end is a tiny page served from its own HTTP server on 127.0.0.1
(tests/federation_browser_front.py). Custos sends no CORS headers, so a page on another origin
could not read its answers; in production the gateway (Clotho) puts Custos on the front end's
origin. The page's own server plays that part: it serves the page and forwards /v1/... to Custos
(Accept, Content-Type, Authorization and User-Agent pass through, nothing is added), so the page's
fetch calls are same-origin, as they are behind Clotho. Everything else (the provider's pages,
the redirects, the cookies at the provider) is the browser's own doing; requests off 127.0.0.1
(the provider's page imports a web font) are refused so the test needs no network.

The journey (docs/federation.md, "The flow"): the page lists the providers and shows "Continue
with Acme"; a click asks Custos GET /v1/oauth/acme/login?redirect_uri=<callback> with Accept:
application/json and goes to authorize_url; the user types a login and a password into the
provider's login page and clicks through its consent page; the provider sends the browser back to
the callback URL with code, state and iss; the page POSTs them to /v1/oauth/acme/callback and
shows who signed in (GET /v1/users/me). The second case cancels at the consent page."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.browser import chromium
from tests.federation_browser_front import FrontEnd, OidcProvider
from tests.server import manage, running_custos

CLIENT_ID = "custos-browser"
SECRET = "browser-client-secret"
ISSUER = "https://custos.test"
AUDIENCE = "fly-browser-test"


class World:
    def __init__(self, front: FrontEnd, idp: OidcProvider, base: str, var_dir, env: dict[str, str]) -> None:
        self.front, self.idp, self.base, self.var_dir, self.env = front, idp, base, var_dir, env

    def custos_state(self) -> dict:
        """What Custos' database holds, read by a separate manage.py process (SQLite or MariaDB)."""
        out = manage(self.var_dir, "shell", "-c", (
            "import json; from accounts.models import User; from audit.models import AuditEvent;"
            "from federation.models import UserOAuth;"
            "print(json.dumps({'users': User.objects.count(),"
            " 'identities': sorted([list(x) for x in UserOAuth.objects.values_list('provider', 'provider_uid',"
            " 'user_id')]),"
            " 'events': [{'action': e.action, 'subject': e.subject_user_id, 'metadata': e.metadata,"
            " 'user_agent': e.user_agent} for e in AuditEvent.objects.filter(action__in=['login.succeeded',"
            " 'login.failed', 'identity.bound']).order_by('id')]}))"), extra_env=self.env)
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Custos with the provider "acme" (display name "Acme"), the provider, the front end."""
    front = FrontEnd()
    idp = None
    try:
        callback = front.callback_url("acme")
        idp = OidcProvider(CLIENT_ID, SECRET, [callback], tmp_path_factory.mktemp("idp") / "stderr.log")
        var_dir = tmp_path_factory.mktemp("custos")
        env = {"CUSTOS_OAUTH_REDIRECT_URIS": callback, "CUSTOS_ISSUER": ISSUER, "CUSTOS_AUDIENCE": AUDIENCE}
        with running_custos(var_dir, extra_env=env) as base:
            manage(var_dir, "oauth_provider", "add", "acme", "--kind", "oidc", "--client-id", CLIENT_ID,
                   "--client-secret", SECRET, "--issuer", idp.issuer, "--display-name", "Acme", "--trust-email",
                   extra_env=env)
            front.upstream = base
            yield World(front, idp, base, var_dir, env)
    finally:
        front.stop()
        if idp is not None:
            idp.stop()


@pytest.fixture
def browser_page():
    """A fresh browser; only 127.0.0.1 is reachable. Yields the page and every URL it requested."""
    with chromium() as browser:
        context = browser.new_context()
        context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname
                      == "127.0.0.1" else route.abort())
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda req: requested.append(req.url))
        yield page, requested


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _to_the_provider(world: World, page) -> None:
    """The front end's button, then the provider's login page."""
    page.goto(f"{world.front.origin}/")
    page.get_by_role("button", name="Continue with Acme").click()
    page.wait_for_url(f"{world.idp.issuer}/interaction/**")
    assert page.locator("h1").inner_text() == "Sign-in"


def _sign_in_at_the_provider(page, login: str) -> None:
    page.locator("input[name=login]").press_sequentially(login)
    page.locator("input[name=password]").press_sequentially("the dev form takes any password")


def _journey_result(page) -> dict:
    page.wait_for_selector("body[data-done]", timeout=30_000)
    return page.evaluate("window.journey")


def test_continue_with_acme_signs_a_new_user_in(world, browser_page, tmp_path):
    page, requested = browser_page
    before = world.custos_state()
    _to_the_provider(world, page)
    _sign_in_at_the_provider(page, "alice")
    page.screenshot(path=str(tmp_path / "1-provider-login.png"), full_page=True)
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_function("document.querySelector('h1') && document.querySelector('h1').innerText === 'Authorize'")
    page.screenshot(path=str(tmp_path / "2-provider-consent.png"), full_page=True)
    page.get_by_role("button", name="Continue").click()
    journey = _journey_result(page)
    page.screenshot(path=str(tmp_path / "3-front-end-signed-in.png"), full_page=True)
    assert journey["stage"] == "signed_in", journey

    # what the browser did: Custos' authorize_url (PKCE S256, state, nonce), then back with code/state/iss
    authorize = [u for u in requested if u.startswith(f"{world.idp.issuer}/auth?")]
    assert len(authorize) == 1, requested
    asked = _query(authorize[0])
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == world.front.callback_url("acme") and asked["client_id"] == CLIENT_ID
    assert asked["nonce"] and asked["state"]
    back = [u for u in requested if u.startswith(world.front.callback_url("acme") + "?")]
    assert len(back) == 1, requested
    answered = _query(back[0])
    assert answered["state"] == asked["state"] and answered["iss"] == world.idp.issuer and answered["code"]
    assert "code=" not in page.url  # the page took the code out of the address bar
    # what the front end asked Custos, in order, through its same-origin proxy
    calls = [(c["method"], urlsplit(c["path"]).path, c["status"]) for c in world.front.calls[-4:]]
    assert calls == [("GET", "/v1/oauth/providers", 200), ("GET", "/v1/oauth/acme/login", 200),
                     ("POST", "/v1/oauth/acme/callback", 200), ("GET", "/v1/users/me", 200)], world.front.calls
    login_call = world.front.calls[-3]
    assert "application/json" in login_call["accept"]
    assert _query(login_call["path"]) == {"redirect_uri": world.front.callback_url("acme")}

    # the callback's answer: a token pair...
    pair = journey["body"]
    assert journey["status"] == 200 and pair["token_type"] == "Bearer"
    assert pair["access_token"] and pair["refresh_token"] and "mfa_required" not in pair
    # ...whose access token verifies against Custos' JWKS, fetched over HTTP
    jwks = jwt.PyJWKClient(f"{world.base}/.well-known/jwks.json")
    claims = jwt.decode(pair["access_token"], jwks.get_signing_key_from_jwt(pair["access_token"]).key,
                        algorithms=["ES256", "RS256"], audience=AUDIENCE, issuer=ISSUER)
    user_id = pair["user"]["id"]
    assert claims["sub"] == str(user_id) and claims["sid"]
    # /v1/users/me with it (straight to Custos, not through the page) lists the identity
    me = requests.get(f"{world.base}/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"},
                      timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user_id and me.json()["email"] == "alice@idp.test"
    assert [(i["provider"], i["provider_uid"]) for i in me.json()["identities"]] == [("acme", "alice")]
    # the page showed the same
    assert page.locator("#outcome").inner_text() == (
        f"Signed in as alice@idp.test (user {user_id}) through acme:alice")

    # in Custos' database: one new user, the identity, and the audit trail naming the provider
    after = world.custos_state()
    assert after["users"] == before["users"] + 1
    assert ["acme", "alice", user_id] in after["identities"]
    new_events = after["events"][len(before["events"]):]
    succeeded = [e for e in new_events if e["action"] == "login.succeeded"]
    assert len(succeeded) == 1 and succeeded[0]["subject"] == user_id, new_events
    assert succeeded[0]["metadata"]["method"] == "oauth:acme"
    assert "Chrome" in succeeded[0]["user_agent"]  # the browser's own request, through the proxy
    assert [e["action"] for e in new_events] == ["identity.bound", "login.succeeded"], new_events


def test_cancelling_at_the_consent_page_gives_no_token_and_no_user(world, browser_page, tmp_path):
    page, requested = browser_page
    before = world.custos_state()
    calls_before = len(world.front.calls)
    _to_the_provider(world, page)
    _sign_in_at_the_provider(page, "bob")
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_function("document.querySelector('h1') && document.querySelector('h1').innerText === 'Authorize'")
    page.get_by_role("link", name="[ Cancel ]").click()
    journey = _journey_result(page)
    page.screenshot(path=str(tmp_path / "front-end-cancelled.png"), full_page=True)

    assert journey["stage"] == "provider_error" and journey["error"] == "access_denied", journey
    back = [u for u in requested if u.startswith(world.front.callback_url("acme") + "?")]
    assert len(back) == 1 and "code" not in _query(back[0]), requested
    assert page.locator("#outcome").inner_text() == "Sign-in cancelled"
    # the front end asked Custos to start, and nothing after: no callback, so no token
    calls = [(c["method"], urlsplit(c["path"]).path) for c in world.front.calls[calls_before:]]
    assert calls == [("GET", "/v1/oauth/providers"), ("GET", "/v1/oauth/acme/login")], calls
    after = world.custos_state()
    assert after["users"] == before["users"]
    assert not [i for i in after["identities"] if i[1] == "bob"]
    assert after["events"] == before["events"]
