"""A reference verifier for a gateway in front of Custos (docs/clotho.md): offline token checks
with a cached JWKS, the revocation feed's kicks, and check-batch. PyJWT and requests only."""
import time

import jwt
import requests


class CustosVerifier:
    def __init__(self, base: str, issuer: str, audience: str, service_key: str, refetch_every: float = 60.0):
        self.base, self.issuer, self.audience = base.rstrip("/"), issuer, audience
        self.auth = {"Authorization": f"ApiKey {service_key}"}
        self.refetch_every, self.max_age, self.keys, self.etag, self.fetched = refetch_every, 300.0, {}, None, 0.0
        self.cursor, self.min_ver, self.sessions, self.user_cut, self.tenant_cut = None, {}, set(), {}, {}

    def _jwks(self, unknown_kid: bool = False) -> None:
        """Refetch when the cached set is older than its max-age (a 304 with the ETag costs
        nothing), or for an unknown kid at most once a minute: forged kids cannot flood Custos."""
        age = time.monotonic() - self.fetched
        if self.keys and age < (self.refetch_every if unknown_kid else self.max_age):
            return
        r = requests.get(f"{self.base}/.well-known/jwks.json", timeout=5,
                         headers={"If-None-Match": self.etag} if self.etag else {})
        self.fetched = time.monotonic()
        if r.status_code == 200:
            self.etag = r.headers.get("ETag")
            self.keys = {k["kid"]: jwt.PyJWK(k) for k in r.json()["keys"]}

    def poll(self) -> None:
        """Read the revocation feed since the last cursor (call every second or so)."""
        r = requests.get(f"{self.base}/internal/revocations", params={"since": self.cursor} if self.cursor else {},
                         headers=self.auth, timeout=5)
        r.raise_for_status()
        feed = r.json()
        self.cursor = feed["cursor"]
        for u in feed["users"]:
            self.min_ver[u["user_id"]] = max(u["min_token_version"], self.min_ver.get(u["user_id"], 0))
        self.sessions.update(feed["sessions"])
        for r_ in feed["roles"]:
            self.user_cut[r_["user_id"]] = max(r_["cutoff"], self.user_cut.get(r_["user_id"], 0))
        for t in feed["tenant_roles"]:
            self.tenant_cut[t["tenant_id"]] = max(t["cutoff"], self.tenant_cut.get(t["tenant_id"], 0))

    def verify(self, token: str) -> dict:
        """The token's claims, or jwt.InvalidTokenError (bad signature, expired, or kicked)."""
        kid = jwt.get_unverified_header(token).get("kid")
        self._jwks()
        if kid not in self.keys:
            self._jwks(unknown_kid=True)
        if kid not in self.keys:
            raise jwt.InvalidTokenError("unknown signing key")
        c = jwt.decode(token, self.keys[kid], algorithms=["ES256", "RS256"], audience=self.audience,
                       issuer=self.issuer, leeway=30, options={"require": ["exp", "iat", "sub", "ver"]})
        user, stamp = int(c["sub"]), c.get("roles_at", c["iat"])
        if c["ver"] < self.min_ver.get(user, 0) or c.get("sid") in self.sessions:
            raise jwt.InvalidTokenError("revoked")
        if stamp < self.user_cut.get(user, 0) or stamp < self.tenant_cut.get(c.get("tid"), 0):
            raise jwt.InvalidTokenError("roles changed: refresh")
        return c

    def check_batch(self, checks: list[dict]) -> list[bool]:
        r = requests.post(f"{self.base}/v1/authz/check-batch", json={"checks": checks}, headers=self.auth, timeout=5)
        r.raise_for_status()
        return r.json()["results"]
