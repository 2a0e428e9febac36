from audit.services import Actor
from authz import selectors, services
from authz.models import ServiceKey
from authz.subjects import _SERVICE, parse_tenant, service_subject
from custos.commands import CustosCommand
from custos.exceptions import ValidationFailed


class Command(CustosCommand):
    help = ("Service keys: `list` them with their roles; `grant NAME ROLE [--tenant T]` or `revoke NAME ROLE "
            "[--tenant T]` a role of svc:NAME (audited). Create with create_service_key, revoke a key with "
            "revoke_service_key.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every key, its service, state and the service's roles")
        for action in ("grant", "revoke"):
            p = sub.add_parser(action, help=f"{action} a role of svc:NAME")
            p.add_argument("name")
            p.add_argument("role")
            p.add_argument("--tenant", default=None, help="a tenant id (default: the platform)")

    def handle(self, *args, **opts):
        if opts["action"] == "list":
            return self._list()
        name, role, domain = opts["name"], opts["role"], parse_tenant(opts["tenant"])
        if not _SERVICE.match(name):
            raise ValidationFailed(fields={"name": ["Lower-case letters, digits, '-', '_'; at most 48."]})
        if not ServiceKey.objects.filter(name=name).exists():
            raise ValidationFailed(f"No service key was ever created for {name!r}.")
        actor = Actor.system("service_key")
        if opts["action"] == "grant":
            added = services.subject_role_grant(subject=service_subject(name), role=role, domain=domain, actor=actor)
            self.stdout.write(f"svc:{name} holds {role} in {domain}" + ("" if added else " (already)"))
        else:
            services.subject_role_revoke(subject=service_subject(name), role=role, domain=domain, actor=actor)
            self.stdout.write(f"svc:{name} no longer holds {role} in {domain}")
        return None

    def _list(self) -> None:
        keys = list(ServiceKey.objects.order_by("name", "created_at"))
        roles = selectors.service_roles(sorted({k.name for k in keys}))
        fmt = "{key_id:<18} {name:<24} {state:<8} {created:<20} {roles}"
        self.stdout.write(fmt.format(key_id="KEY ID", name="SERVICE", state="STATE", created="CREATED", roles="ROLES"))
        for k in keys:
            held = ", ".join(f"{role} in {dom}" for dom, role in roles.get(k.name, [])) or "-"
            self.stdout.write(fmt.format(key_id=k.key_id, name=k.name, state="revoked" if k.revoked_at else "active",
                                         created=k.created_at.strftime("%Y-%m-%d %H:%M:%S"), roles=held))
