"""Every list follows API.md's convention (issue 19): `?limit=` from 1 to 200 (anything else is
400 validation_error in the envelope), an opaque `?cursor=` (a malformed one is 400), and the
answer `{"results": [...], "next": <cursor or null>}`; following `next` page by page yields
every row once."""
from __future__ import annotations

import base64
import json

import pytest
from django.utils import timezone

from accounts.models import LoginEvent, Tenant
from audit.services import Actor
from tests.conftest import bearer, grant, login
from tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 3  # each list below holds at least this many rows for the caller


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def world(api, signing_key):
    """A platform admin and a customer with several rows in every list."""
    from federation import providers
    from federation.models import UserOAuth

    staff = UserFactory(username="listadmin")
    grant(staff, "platform_admin")
    alice = UserFactory(username="alicelists")
    pairs = [login(api, alice.username) for _ in range(ROWS)]
    staff_token = login(api, staff.username)["access_token"]
    for i in range(ROWS):
        TenantFactory()
        UserOAuth.objects.create(user=alice, provider=f"idp{i}", provider_uid=f"uid-{i}")
        providers.provider_add(name=f"idp{i}", kind="github", client_id="c", client_secret="s",  # noqa: S106
                               actor=Actor.system("test"))
    # two sign-ins at the very same moment: the id must break the tie across a page boundary
    same = timezone.now()
    LoginEvent.objects.bulk_create([LoginEvent(user=alice, occurred_at=same, method="password", result="failure",
                                               device_id=f"tie-{i}") for i in range(2)])
    return {"staff": bearer(staff_token), "alice": bearer(pairs[-1]["access_token"]), "alice_id": alice.pk,
            "public": {}}


# (path, who asks, how many rows at least, what identifies a row)
LISTS = [
    ("/v1/sessions", "alice", ROWS, "session_id"),
    ("/v1/users/me/logins", "alice", ROWS + 2, None),
    ("/v1/admin/users/{alice_id}/logins", "staff", ROWS + 2, None),
    ("/v1/users/me/identities", "alice", ROWS, "provider"),
    ("/v1/oauth/providers", "public", ROWS, "name"),
    ("/v1/authz/roles?tenant=platform", "staff", 3, "name"),
    ("/v1/admin/users", "staff", 2, "id"),
    ("/v1/admin/tenants", "staff", ROWS, "id"),
    ("/v1/audit/events", "staff", ROWS, "event_id"),
]
IDS = [p.split("?")[0] for p, *_ in LISTS]


def _url(path: str, world: dict, **query: str) -> str:
    path = path.format(alice_id=world["alice_id"])
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{path}{'&' if '?' in path else '?'}{extra}" if extra else path


def _row_id(row: dict, key: str | None) -> str:
    return json.dumps(row, sort_keys=True) if key is None else str(row[key])


@pytest.mark.parametrize(("path", "who", "at_least", "key"), LISTS, ids=IDS)
def test_pages_cover_every_row_once(api, world, path, who, at_least, key):
    everything = api.get(_url(path, world, limit="200"), **world[who])
    assert everything.status_code == 200, everything.content
    body = everything.json()
    assert set(body) == {"results", "next"} and body["next"] is None
    assert len(body["results"]) >= at_least
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        r = api.get(_url(path, world, **query), **world[who])
        assert r.status_code == 200, r.content
        page = r.json()
        assert len(page["results"]) <= 1
        seen += [_row_id(row, key) for row in page["results"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert pages <= len(body["results"])  # no endless paging
    assert seen == [_row_id(row, key) for row in body["results"]], "pages differ from the whole list"
    assert len(set(seen)) == len(seen)


BAD_LIMITS = ["0", "201", "-1", "abc", "1.5", "99999999999999999999999"]
BAD_CURSORS = ["!!!", "a", _b64(b"\xff\xfe"), _b64(b"99999999999999999999999"), _b64(b"-5"), _b64(b'{"t": 1}'),
               _b64(b'["2026-01-01T00:00:00", 1]'), _b64(b"[1, 2, 3, 4]"), _b64(b'["x"]') + "%25", "A" * 5000]


@pytest.mark.parametrize(("path", "who", "at_least", "key"), LISTS, ids=IDS)
def test_bad_limits_and_cursors_are_refused(api, world, path, who, at_least, key):
    assert api.get(_url(path, world, limit="200"), **world[who]).status_code == 200
    assert api.get(_url(path, world, limit="1"), **world[who]).status_code == 200
    for name, values in (("limit", BAD_LIMITS), ("cursor", BAD_CURSORS)):
        for value in values:
            r = api.get(_url(path, world, **{name: value}), **world[who])
            assert r.status_code == 400, (name, value, r.content)
            body = r.json()
            assert body["error"]["code"] == "validation_error" and name in body["error"]["fields"], body
            assert body["request_id"]


def test_sessions_first_page_is_one_session_with_a_cursor(api, world):
    """The issue's case: `GET /v1/sessions?limit=1` answered every session and no cursor."""
    r = api.get("/v1/sessions?limit=1", **world["alice"]).json()
    assert len(r["results"]) == 1 and r["next"]
    second = api.get(f"/v1/sessions?limit=1&cursor={r['next']}", **world["alice"]).json()
    assert len(second["results"]) == 1 and second["results"][0]["session_id"] != r["results"][0]["session_id"]
    # newest sign-in first; `current` still marks the caller's session
    everything = api.get("/v1/sessions", **world["alice"]).json()["results"]
    created = [s["created_at"] for s in everything]
    assert created == sorted(created, reverse=True)
    assert sum(s["current"] for s in everything) == 1


def test_a_cursor_stays_valid_as_rows_arrive(api, world):
    """Keyset, not offsets: a tenant created between two pages neither shifts nor repeats rows."""
    first = api.get("/v1/admin/tenants?limit=2", **world["staff"]).json()
    TenantFactory()
    rest = api.get(f"/v1/admin/tenants?limit=200&cursor={first['next']}", **world["staff"]).json()
    ids = [t["id"] for t in first["results"]] + [t["id"] for t in rest["results"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(Tenant.objects.filter(pk__lte=max(ids)).values_list("pk", flat=True))
