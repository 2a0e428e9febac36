"""Account merge with an external identity as the proof, against the real OpenID provider
(npm oidc-provider, PKCE required): the journey of issue 16's own example, an account from a
password sign-up and another from "Continue with Acme" months later."""
from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AuditEvent
from federation.models import UserOAuth
from tests import test_federation as fed
from tests.conftest import bearer, login
from tests.factories import PASSWORD, UserFactory
from tests.test_federation import full_flow, start

# the real OpenID providers and their configuration, as the federation tests run them
front, idp, idp2, provider, provider2 = fed.front, fed.idp, fed.idp2, fed.provider, fed.provider2

pytestmark = pytest.mark.django_db


def _reauth_password(api, token: str) -> str:
    r = api.post("/v1/auth/reauth", {"password": PASSWORD}, format="json", **bearer(token))
    assert r.status_code == 200, r.content
    return r.json()["reauth_token"]


def _merge(api, token: str, reauth: str, secondary: dict):
    return api.post("/v1/account/merge", {"secondary": secondary}, format="json", **bearer(token),
                    HTTP_X_REAUTH_TOKEN=reauth)


def _provider_answer(api, idp, token: str, account: str, name: str = "acme") -> dict:
    """A state started with the primary's Bearer, and the provider's answer to it."""
    started = start(api, name, **bearer(token))
    back = idp.sign_in(started["authorize_url"], account)
    assert back["state"] == started["state"]
    return back


def test_an_external_identity_proves_the_secondary_and_moves_to_the_primary(api, provider, idp):
    r = full_flow(api, idp, "dora")  # the account "Continue with Acme" made months later
    assert r.status_code == 200, r.content
    secondary = UserOAuth.objects.get(provider_uid="dora").user
    primary = UserFactory(username="dora-local", email=None)
    token = login(api, primary.username)["access_token"]
    back = _provider_answer(api, idp, token, "dora")
    r = _merge(api, token, _reauth_password(api, token),
               {"type": "oauth", "provider": "acme", "code": back["code"], "state": back["state"], "iss": back["iss"]})
    assert r.status_code == 200, r.content
    assert r.json()["merged_user_id"] == secondary.pk and r.json()["moved"]["identities"] == 1
    assert User.objects.get(pk=secondary.pk).merged_into_id == primary.pk
    assert AuditEvent.objects.get(action="user.merged").metadata["proof"] == "oauth:acme"
    # "Continue with Acme" now signs in the primary
    again = full_flow(api, idp, "dora")
    assert again.status_code == 200, again.content
    me = api.get("/v1/users/me", **bearer(again.json()["access_token"])).json()
    assert me["id"] == primary.pk and [i["provider_uid"] for i in me["identities"]] == ["dora"]


def test_the_state_must_be_the_primary_s(api, provider, idp):
    full_flow(api, idp, "ed")
    primary = UserFactory(username="ed-local")
    other = UserFactory(username="someone-else")
    token = login(api, primary.username)["access_token"]
    reauth = _reauth_password(api, token)
    # started without a Bearer: no one's state
    started = start(api)
    back = idp.sign_in(started["authorize_url"], "ed")
    r = _merge(api, token, reauth, {"type": "oauth", "provider": "acme", "code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "oauth_state_invalid"
    # started by another signed-in user: theirs, not the primary's
    back = _provider_answer(api, idp, login(api, other.username)["access_token"], "ed")
    r = _merge(api, token, reauth, {"type": "oauth", "provider": "acme", "code": back["code"], "state": back["state"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "oauth_state_invalid"
    assert User.objects.get(username=None, identities__provider_uid="ed").status == User.Status.ACTIVE


def test_a_code_of_another_provider_under_the_state_fails(api, provider, provider2, idp, idp2):
    full_flow(api, idp, "fay")
    primary = UserFactory(username="fay-local")
    token = login(api, primary.username)["access_token"]
    started = start(api, "acme", **bearer(token))
    foreign = idp2.sign_in(start(api, "other", **bearer(token))["authorize_url"], "fay")
    r = _merge(api, token, _reauth_password(api, token),
               {"type": "oauth", "provider": "acme", "code": foreign["code"], "state": started["state"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "oauth_failed"
    assert not User.objects.filter(status=User.Status.MERGED).exists()


def test_an_external_only_primary_re_authenticates_through_its_provider_and_merges(api, provider, idp):
    """The account with no password (made by "Continue with Acme") is the one kept: it proves
    itself to the provider again (POST /v1/oauth/acme/reauth), then proves the older account
    with that account's password."""
    r = full_flow(api, idp, "gus")
    token = r.json()["access_token"]
    primary = UserOAuth.objects.get(provider_uid="gus").user
    assert not primary.has_usable_password()
    old = UserFactory(username="gus-2019")
    r = api.get("/v1/oauth/acme/login", {"redirect_uri": fed.FRONT, "purpose": "reauth"},
                HTTP_ACCEPT="application/json", **bearer(token))
    assert r.status_code == 200, r.content
    assert "prompt=login" in r.json()["authorize_url"] and "max_age=0" in r.json()["authorize_url"]
    back = idp.sign_in(r.json()["authorize_url"], "gus")  # the provider asks for the password again
    re = api.post("/v1/oauth/acme/reauth", {"code": back["code"], "state": back["state"], "iss": back["iss"]},
                  format="json", **bearer(token))
    assert re.status_code == 200, re.content
    r = _merge(api, token, re.json()["reauth_token"], {"type": "password", "username": "gus-2019",
                                                       "password": PASSWORD})
    assert r.status_code == 200, r.content
    assert User.objects.get(pk=old.pk).merged_into_id == primary.pk
    assert User.objects.get(pk=primary.pk).username == "gus-2019"  # the primary had none: it moves
