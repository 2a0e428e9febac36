"""GET /v1/authz/me/permissions tells the truth about a superuser (issue 19): every Custos check
admits them whatever their roles, and the answer says so."""
import pytest

from tests.conftest import bearer, grant, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_superuser_is_told_they_may_do_everything(api, signing_key):
    root = UserFactory(user_type="staff", is_superuser=True)
    r = api.get("/v1/authz/me/permissions", {"tenant": "platform"}, **bearer(login(api, root.username)["access_token"]))
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["superuser"] is True and body["roles"] == []
    assert body["permissions"][0] == {"object": "*", "action": "*", "via": "superuser"}
    # and it is true: a check the superuser holds no role for is admitted
    token = login(api, root.username)["access_token"]
    assert api.get("/v1/admin/users", **bearer(token)).status_code == 200


def test_anyone_else_gets_their_roles_only(api, signing_key):
    auditor = UserFactory()
    grant(auditor, "auditor")
    body = api.get("/v1/authz/me/permissions", {"tenant": "platform"},
                   **bearer(login(api, auditor.username)["access_token"])).json()
    assert body["superuser"] is False and body["roles"] == ["auditor"]
    assert {"object": "*", "action": "*", "via": "superuser"} not in body["permissions"]
    assert {p["via"] for p in body["permissions"]} == {"auditor"}
