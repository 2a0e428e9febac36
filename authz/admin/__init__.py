"""Roles, the "why" tool and service keys as pages of the staff console (issue 17, docs/console-authz.md).

Every change goes through the same authz services as the REST API, audited with the staff member as
actor. Each page and action is its own Casbin permission in the platform domain (action on
`/admin/authz/<model>`, authz.backends.CasbinAdminBackend): `view`/`add`/`change`/`delete`/`grant`
on `role`, `use` on `why`, `view`/`add`/`revoke`/`grant` on `servicekey`. Roles are not a table of
their own, so the `Role` and `Why` proxies of CasbinRule only give the console its entries; every
view of theirs is replaced here.

Which domains a request may see is decided in one place, `_domains_for`: all of them today
(platform staff), narrowed later for tenant administrators without touching the views.
"""
from . import roles, service_keys, why  # noqa: F401 - each registers its pages
