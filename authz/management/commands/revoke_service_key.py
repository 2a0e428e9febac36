from django.core.management.base import CommandError

from audit.services import Actor
from authz import services
from custos.commands import CustosCommand


class Command(CustosCommand):
    help = "Revoke a service key by its key id."

    def add_arguments(self, parser):
        parser.add_argument("key_id")

    def handle(self, *args, **opts):
        if not services.service_key_revoke(key_id=opts["key_id"], actor=Actor.system("revoke_service_key")):
            raise CommandError("no active key with that id")
        self.stdout.write(f"revoked {opts['key_id']}")
