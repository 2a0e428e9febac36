from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, event_record
from custos.exceptions import NotFound, ValidationFailed

from ..errors import AlreadyExists, TransitionNotAllowed
from ..models import Tenant, User
from ..signals import tenant_created
from .lifecycle import user_token_version_bump


def _name(name: object) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 128 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationFailed(fields={"name": ["1 to 128 printable characters."]})
    return name


@transaction.atomic
def tenant_create(*, name: object, actor: Actor) -> Tenant:
    name = _name(name)
    if Tenant.objects.filter(name__iexact=name).exists():
        raise AlreadyExists("A tenant with this name already exists.")
    tenant = Tenant.objects.create(name=name)
    event_record(action=Action.TENANT_CREATED, actor=actor, tenant_id=tenant.pk, metadata={"name": name})
    tenant_created.send(sender=Tenant, tenant_id=tenant.pk)
    return tenant


def _locked(tenant_id: int) -> Tenant:
    tenant = Tenant.objects.select_for_update().filter(pk=tenant_id).first()
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


@transaction.atomic
def tenant_rename(*, tenant_id: int, name: object, actor: Actor) -> Tenant:
    tenant = _locked(tenant_id)
    new = _name(name)
    if Tenant.objects.filter(name__iexact=new).exclude(pk=tenant.pk).exists():
        raise AlreadyExists("A tenant with this name already exists.")
    before, tenant.name = tenant.name, new
    tenant.save(update_fields=["name", "updated_at"])
    event_record(action=Action.TENANT_UPDATED, actor=actor, tenant_id=tenant.pk,
                 metadata={"before": {"name": before}, "after": {"name": new}})
    return tenant


@transaction.atomic
def tenant_disable(*, tenant_id: int, actor: Actor) -> Tenant:
    """A disabled tenant's users cannot sign in, and every session they had ends now."""
    tenant = _locked(tenant_id)
    if tenant.status == Tenant.Status.DISABLED:
        raise TransitionNotAllowed("disable", "disabled")
    tenant.status = Tenant.Status.DISABLED
    tenant.save(update_fields=["status", "updated_at"])
    user_ids = list(User.objects.filter(tenant_id=tenant.pk).values_list("pk", flat=True))
    for user_id in user_ids:
        user_token_version_bump(user_id=user_id, actor=actor, reason="tenant_disabled")
    event_record(action=Action.TENANT_DISABLED, actor=actor, tenant_id=tenant.pk,
                 metadata={"users_signed_out": len(user_ids), "at": timezone.now().isoformat()})
    return tenant


@transaction.atomic
def tenant_enable(*, tenant_id: int, actor: Actor) -> Tenant:
    tenant = _locked(tenant_id)
    if tenant.status == Tenant.Status.ACTIVE:
        raise TransitionNotAllowed("enable", "active")
    tenant.status = Tenant.Status.ACTIVE
    tenant.save(update_fields=["status", "updated_at"])
    event_record(action=Action.TENANT_ENABLED, actor=actor, tenant_id=tenant.pk)
    return tenant
