"""The authorization selectors (authz/selectors.py) at the edges the mutation run
(scripts/mutation.py) found untested."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from accounts.services import tenant_create
from audit.services import Actor
from authz import selectors
from authz.services import platform_roles_seed, role_create
from authz.subjects import PLATFORM_DOMAIN, tenant_domain, user_subject
from tests.conftest import grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = Actor.system("test")


@pytest.fixture
def world(db):
    platform_roles_seed()
    t1 = tenant_create(name="acme", actor=SYSTEM)
    t2 = tenant_create(name="globex", actor=SYSTEM)
    admin1, staff, nobody = UserFactory(tenant=t1), UserFactory(user_type="staff"), UserFactory(tenant=t1)
    grant(admin1, "tenant_admin", t1.pk)
    grant(staff, "platform_admin")
    return {"d1": tenant_domain(t1.pk), "d2": tenant_domain(t2.pk), "t1": t1, "admin1": user_subject(admin1.pk),
            "admin1_user": admin1, "staff": user_subject(staff.pk), "nobody": user_subject(nobody.pk)}


def _decisions(decision: str) -> float:
    return REGISTRY.get_sample_value("custos_authz_checks_total", {"decision": decision}) or 0.0


def test_may_widens_platform_rules_into_every_tenant_and_nothing_else(world):
    d1, d2 = world["d1"], world["d2"]
    assert selectors.may(world["staff"], d1, "/users", "read") is True  # through the platform's rule
    assert selectors.may(world["staff"], PLATFORM_DOMAIN, "/users", "read") is True
    assert selectors.may(world["admin1"], d1, "/users", "read") is True
    assert selectors.may(world["admin1"], d2, "/users", "read") is False  # not in another tenant
    assert selectors.may(world["admin1"], PLATFORM_DOMAIN, "/users", "read") is False
    assert selectors.may(world["nobody"], d1, "/users", "read") is False


def test_check_answers_the_model_and_counts_each_decision(world):
    allowed, denied = _decisions("allowed"), _decisions("denied")
    assert selectors.check(world["admin1"], world["d1"], "/users", "read") is True
    assert (_decisions("allowed"), _decisions("denied")) == (allowed + 1, denied)
    assert selectors.check(world["staff"], world["d1"], "/users", "read") is False  # no widening here
    assert (_decisions("allowed"), _decisions("denied")) == (allowed + 1, denied + 1)


def test_check_batch_keeps_the_order_and_counts_each_decision(world):
    requests = [(world["admin1"], world["d1"], "/users", "read"), (world["admin1"], world["d2"], "/users", "read"),
                (world["nobody"], world["d1"], "/users", "read"), (world["staff"], PLATFORM_DOMAIN, "/x", "write")]
    allowed, denied = _decisions("allowed"), _decisions("denied")
    assert selectors.check_batch(requests) == [True, False, False, True]
    assert (_decisions("allowed"), _decisions("denied")) == (allowed + 2, denied + 2)
    assert selectors.check_batch(requests[:1]) == [True]
    assert (_decisions("allowed"), _decisions("denied")) == (allowed + 3, denied + 2)
    assert selectors.check_batch(requests[1:3]) == [False, False]
    assert (_decisions("allowed"), _decisions("denied")) == (allowed + 3, denied + 4)


def test_roles_of_a_user_in_a_tenant_sorted(world):
    user = world["admin1_user"]
    role_create(name="auditor_x", domain=world["d1"], permissions=[("/audit", "read")], actor=SYSTEM)
    role_create(name="zz_clerk", domain=world["d1"], permissions=[("/orders", "read")], actor=SYSTEM)
    grant(user, "zz_clerk", world["t1"].pk)
    grant(user, "auditor_x", world["t1"].pk)
    expected = ["auditor_x", "tenant_admin", "zz_clerk"]
    assert selectors.user_roles(user_id=user.pk, tenant_id=world["t1"].pk) == expected
    assert selectors.token_roles(user_id=user.pk, tenant_id=world["t1"].pk) == expected
    assert selectors.subject_roles(world["admin1"], world["d1"]) == expected
    assert selectors.user_roles(user_id=user.pk, tenant_id=None) == []
    assert selectors.token_roles(user_id=user.pk, tenant_id=None) == []


def test_roles_in_a_domain_with_their_permissions(world):
    role_create(name="aa_reader", domain=world["d1"], permissions=[("/orders", "read")], actor=SYSTEM)
    listed = selectors.roles_in(world["d1"])
    names = [r["name"] for r in listed]
    assert names == sorted(names) and "aa_reader" in names and "tenant_admin" in names
    reader = next(r for r in listed if r["name"] == "aa_reader")
    assert reader == {"name": "aa_reader", "tenant": world["d1"], "permissions": [{"object": "/orders",
                                                                                    "action": "read"}]}
    assert selectors.role_permissions("aa_reader", world["d1"]) == [{"object": "/orders", "action": "read"}]
    assert selectors.role_exists("aa_reader", world["d1"]) is True
    assert selectors.role_exists("aa_reader", world["d2"]) is False


def test_effective_permissions_name_the_role_they_come_through(world):
    role_create(name="aa_reader", domain=world["d1"], permissions=[("/orders", "read")], actor=SYSTEM)
    grant(world["admin1_user"], "aa_reader", world["t1"].pk)
    perms = selectors.effective_permissions(world["admin1"], world["d1"])
    assert {"object": "/orders", "action": "read", "via": "aa_reader"} in perms
    assert all(p["via"] in ("aa_reader", "tenant_admin") for p in perms)
    assert selectors.effective_permissions(world["nobody"], world["d1"]) == []


def test_a_user_is_in_the_platform_domain_and_in_its_own_tenants_only(world):
    user = world["admin1_user"]
    platform_user = UserFactory()
    assert selectors.user_in_domain(user_id=user.pk, domain=world["d1"]) == user
    assert selectors.user_in_domain(user_id=user.pk, domain=PLATFORM_DOMAIN) == user
    assert selectors.user_in_domain(user_id=user.pk, domain=world["d2"]) is None
    assert selectors.user_in_domain(user_id=platform_user.pk, domain=world["d1"]) is None
    assert selectors.user_in_domain(user_id=platform_user.pk, domain=PLATFORM_DOMAIN) == platform_user
    assert selectors.user_in_domain(user_id=999_999, domain=PLATFORM_DOMAIN) is None
    assert selectors.user_exists(user_id=user.pk) is True and selectors.user_exists(user_id=999_999) is False
