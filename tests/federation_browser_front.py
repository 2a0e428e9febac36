"""The pieces tests/test_federation_browser.py puts around a live Custos: a tiny front end (one page
and a same-origin proxy to Custos, as the gateway Clotho is in production) and the real npm
oidc-provider (tests/js/oidc_idp.mjs) with a client whose redirect URI is the front end's."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.server import free_port

JS_DIR = Path(__file__).parent / "js"

# One page for both ends of the journey: at "/" it lists the providers and starts a sign-in; at
# "/oauth/callback/<provider>" it finishes it. It speaks only to its own origin (/v1/... is proxied).
# It keeps nothing between the two: the state is all Custos needs (docs/federation.md).
# window.journey is what the test reads once the page is done (body[data-done]).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fly (test front end)</title>
<style>
 body { font-family: sans-serif; margin: 2em; max-width: 46em }
 button { font-size: 1.1em; padding: .5em 1em; margin: .3em 0; display: block }
 #outcome { font-size: 1.3em; font-weight: bold }
 pre { white-space: pre-wrap; word-break: break-all; background: #f2f2f2; padding: 1em; font-size: 11px }
</style></head>
<body>
<h1>Fly</h1>
<div id="buttons"></div>
<p id="outcome"></p>
<pre id="details"></pre>
<script>
async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { Accept: 'application/json', ...(init.headers || {}) } });
  let body = null;
  try { body = await r.json(); } catch (e) { /* an empty answer */ }
  return { status: r.status, body };
}
function show(outcome, details) {
  document.getElementById('outcome').textContent = outcome;
  document.getElementById('details').textContent = details;
}
function done(journey) {
  window.journey = journey;
  document.body.dataset.done = journey.stage;
}
async function home() {
  const list = await api('/v1/oauth/providers');
  for (const p of list.body.results) {
    const button = document.createElement('button');
    button.textContent = `Continue with ${p.display_name}`;
    button.addEventListener('click', () => start(p.name));
    document.getElementById('buttons').append(button);
  }
}
async function start(name) {
  const callback = `${location.origin}/oauth/callback/${encodeURIComponent(name)}`;
  const r = await api(`/v1/oauth/${encodeURIComponent(name)}/login?redirect_uri=${encodeURIComponent(callback)}`);
  if (r.status !== 200) {
    show(`Could not start (${r.status})`, JSON.stringify(r.body, null, 2));
    return done({ stage: 'login', ...r });
  }
  location.assign(r.body.authorize_url);
}
async function finish(name) {
  const q = new URLSearchParams(location.search);
  history.replaceState(null, '', location.pathname);  // the code leaves the address bar at once
  if (q.has('error')) {
    show('Sign-in cancelled', `${q.get('error')}: ${q.get('error_description') || ''}`);
    return done({ stage: 'provider_error', error: q.get('error'), state: q.get('state') });
  }
  const sent = { code: q.get('code'), state: q.get('state') };
  if (q.has('iss')) sent.iss = q.get('iss');
  const r = await api(`/v1/oauth/${encodeURIComponent(name)}/callback`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(sent) });
  if (r.status !== 200 || !r.body || !r.body.access_token) {
    show(`Sign-in failed (${r.status})`, JSON.stringify(r.body, null, 2));
    return done({ stage: 'callback_refused', ...r });
  }
  const me = await api('/v1/users/me', { headers: { Authorization: `Bearer ${r.body.access_token}` } });
  const ids = (me.body.identities || []).map((i) => `${i.provider}:${i.provider_uid}`).join(', ');
  show(`Signed in as ${me.body.email} (user ${me.body.id}) through ${ids}`,
       `access_token: ${r.body.access_token.slice(0, 40)}...\\nrefresh_token: ${r.body.refresh_token.slice(0, 12)}...`);
  done({ stage: 'signed_in', status: r.status, body: r.body, me });
}
const m = location.pathname.match(/^\\/oauth\\/callback\\/([^/]+)$/);
(m ? finish(decodeURIComponent(m[1])) : home()).catch((e) => {
  show('Front end error', String(e));
  done({ stage: 'front_end_error', error: String(e) });
});
</script>
</body></html>
"""

_FORWARDED = ("Accept", "Content-Type", "Authorization", "User-Agent")


class FrontEnd:
    """The page above, and a proxy of /v1/... and /.well-known/... to Custos on the same origin.
    Every proxied call is kept in `calls` (method, path with query, Accept, status)."""

    def __init__(self) -> None:
        self.upstream: str | None = None
        self.calls: list[dict] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: self.headers[k] for k in _FORWARDED if self.headers.get(k)}
                r = requests.request(self.command, f"{front.upstream}{self.path}", data=body, headers=headers,
                                     allow_redirects=False, timeout=30)
                front.calls.append({"method": self.command, "path": self.path,
                                    "accept": self.headers.get("Accept", ""), "status": r.status_code})
                out = {k: r.headers[k] for k in ("Content-Type", "Cache-Control", "Location") if k in r.headers}
                self._send(r.status_code, r.content, out)

            def do_GET(self):
                if self.path.startswith(("/v1/", "/.well-known/")):
                    return self._proxy()
                path = self.path.split("?", 1)[0]
                if path == "/" or path.startswith("/oauth/callback/"):
                    return self._send(200, PAGE.encode(), {"Content-Type": "text/html; charset=utf-8",
                                                           "Cache-Control": "no-store"})
                self._send(404, b"not found", {"Content-Type": "text/plain"})

            def do_POST(self):
                if self.path.startswith("/v1/"):
                    return self._proxy()
                self._send(404, b"not found", {"Content-Type": "text/plain"})

        # port 0: the system picks a free port and the server holds it from the start
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def callback_url(self, provider: str) -> str:
        return f"{self.origin}/oauth/callback/{provider}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OidcProvider:
    """npm oidc-provider (tests/js/oidc_idp.mjs) on a free port, with one confidential client that
    must use PKCE; its dev interactions are the login and consent pages the browser fills in."""

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str], log: Path) -> None:
        assert shutil.which("node"), "node is required (make test installs tests/js)"
        assert (JS_DIR / "node_modules" / "oidc-provider").exists(), "run `npm ci --prefix tests/js` (make test does)"
        self.log = log
        clients = [{"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}]
        with open(log, "w") as err:
            self.proc = subprocess.Popen(["node", str(JS_DIR / "oidc_idp.mjs"), str(free_port()), json.dumps(clients)],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        line = self.proc.stdout.readline()
        assert line, f"the OpenID provider did not start: {log.read_text()[-2000:]}"
        self.issuer = json.loads(line)["issuer"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
