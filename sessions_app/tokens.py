"""Access tokens on simplejwt's Token class, signed by the key ring."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from keys.backends import epoch_ok, token_backend

from .conf import conf
from .revstate import ROLES_GAP

# The widest values the columns behind each claim hold (BIGINT ids, INT token_version, a
# 36-character session id): a value outside them would reach int(), a query or a dict as a
# 500 (SQLite raises on integers past 64 bits) instead of a refusal.
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
_SUB = re.compile(r"[1-9][0-9]{0,18}")  # ASCII digits, canonical: int() would also take " 1" and "١"
_SID = re.compile(r"[A-Za-z0-9-]{1,36}")
_LIST_ITEM_MAX = 64  # a role name or an amr value
_SCOPE_MAX = 1024


def _id(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_ID  # type(): True is an int, and no id


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and 0 < len(v) <= _LIST_ITEM_MAX for v in value)


def claims_problem(claims: dict[str, Any]) -> str | None:
    """What is wrong with a verified token's Custos claims, or None. The signature, `iss`,
    `aud` and the time claims' ranges were checked by the backend; this checks that each of
    our claims fits what Custos issues, so nothing downstream ever converts a hostile value."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _SUB.fullmatch(sub) or int(sub) > MAX_ID:
        return "sub"
    ver = claims.get("ver")
    if type(ver) is not int or not 0 <= ver <= MAX_VERSION:
        return "ver"
    tid = claims.get("tid")
    if tid is not None and not _id(tid):
        return "tid"
    sid = claims.get("sid")
    if sid is not None and not (isinstance(sid, str) and _SID.fullmatch(sid)):
        return "sid"
    for name in ("roles", "amr"):
        if name in claims and not _strings(claims[name]):
            return name
    scope = claims.get("scope")
    if scope is not None and not (isinstance(scope, str) and len(scope) <= _SCOPE_MAX):
        return "scope"
    c = conf()
    iat, exp = claims["iat"], claims["exp"]
    # No token of ours lives longer than ACCESS_TTL; a longer one was not issued by this
    # configuration (a lowered TTL ends longer-lived tokens early, which is what lowering asks).
    if exp - iat > c.access_ttl + c.leeway:
        return "lifetime"
    auth_time = claims.get("auth_time")
    if auth_time is not None and not (epoch_ok(auth_time) and auth_time <= iat + c.leeway):
        return "auth_time"  # sign-in happens before issue, never after
    roles_at = claims.get("roles_at")
    # an issuer stamps at most a role change's cutoff ahead of its clock (revstate's rule); an
    # older stamp only makes the token easier to refuse
    if roles_at is not None and not (epoch_ok(roles_at) and roles_at <= iat + 1 + ROLES_GAP + c.leeway):
        return "roles_at"
    return None


class CustosAccessToken(AccessToken):
    token_type = "access"

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return timedelta(seconds=conf().access_ttl)

    def __init__(self, token=None, verify: bool = True) -> None:
        super().__init__(token, verify)
        # TOKEN_TYPE_CLAIM is None (the type is the `typ` header): drop simplejwt's placeholder.
        self.payload.pop(None, None)

    def get_token_backend(self):
        return token_backend()

    def verify(self) -> None:
        problem = claims_problem(self.payload)
        if problem is not None:
            raise TokenError(f"bad claim: {problem}")
        super().verify()

    def verify_token_type(self) -> None:
        # The type lives in the JOSE header (`typ: at+jwt`), which the backend checks.
        return None
