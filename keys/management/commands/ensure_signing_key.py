
from audit.services import Actor
from custos.commands import CustosCommand
from keys import services


class Command(CustosCommand):
    help = "Create the first signing key if there is none (idempotent; `make run` calls it)."

    def handle(self, *args, **opts):
        key = services.key_ensure(actor=Actor.system("ensure_signing_key"))
        if key:
            self.stdout.write(f"created signing key {key.kid} ({key.alg})")
        else:
            self.stdout.write("a signing key is already active")
