
from audit.services import Actor
from custos.commands import CustosCommand
from keys import services


class Command(CustosCommand):
    help = ("Stage a new signing key: published in the JWKS now, signing after the publish delay "
            "(CUSTOS_KEY_PUBLISH_DELAY) or at once with --activate-now. Also unpublishes expired keys.")

    def add_arguments(self, parser):
        parser.add_argument("--alg", choices=["ES256", "RS256"], default=None)
        parser.add_argument("--activate-now", action="store_true")
        parser.add_argument("--delay", type=int, default=None, help="seconds before the new key signs")

    def handle(self, *args, **opts):
        actor = Actor.system("rotate_keys")
        pruned = services.keys_prune(actor=actor)
        key = services.keys_rotate(actor=actor, alg=opts["alg"], activate_now=opts["activate_now"],
                                   publish_delay=opts["delay"])
        self.stdout.write(f"staged {key.kid} ({key.alg}), signing from {key.activates_at.isoformat()}")
        for kid in pruned:
            self.stdout.write(f"unpublished expired key {kid}")
