from audit.services import Actor
from authz import services
from authz.subjects import parse_tenant
from custos.commands import CustosCommand


class Command(CustosCommand):
    help = ("Create a service key for NAME. The secret is printed once and never stored; what the "
            "service may do is Casbin policy on subject svc:NAME: --role grants it a role at once "
            "(e.g. --role gateway for Clotho), in --tenant T or the platform.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", default=None, help="a role to grant the service (e.g. gateway)")
        parser.add_argument("--tenant", default=None, help="the tenant id of that role (default: the platform)")

    def handle(self, *args, **opts):
        domain = parse_tenant(opts["tenant"]) if opts["role"] else None
        if opts["tenant"] is not None and not opts["role"]:
            parse_tenant(opts["tenant"])  # a bad tenant is refused even without a role
        key, credential = services.service_key_create(name=opts["name"], actor=Actor.system("create_service_key"),
                                                      role=opts["role"], domain=domain)
        granted = f"\nrole:    {opts['role']} in {domain}" if opts["role"] else (
            "\nrole:    none yet (manage.py service_key grant NAME ROLE [--tenant T])")
        self.stdout.write(f"service: svc:{key.name}\nkey id:  {key.key_id}{granted}\n"
                          f"Authorization: ApiKey {credential}\n(the secret is shown only now)")
