from __future__ import annotations

from .models import CasbinRule
from .subjects import tenant_domain, user_subject


def user_roles(*, user_id: int, tenant_id: int | None) -> list[str]:
    """The user's directly assigned roles in the tenant's domain (read at every token issue)."""
    return sorted(CasbinRule.objects.filter(ptype="g", v0=user_subject(user_id), v2=tenant_domain(tenant_id))
                  .values_list("v1", flat=True))
