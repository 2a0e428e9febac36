"""Print the first-time setup link while the install has no staff account (`make run` runs
this before it serves). Prints nothing once an install is set up."""
from __future__ import annotations

from django.conf import settings

from accounts.services import setup
from custos.commands import CustosCommand


class Command(CustosCommand):
    help = "Print a one-time link to create the first staff account, while none exists."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=None,
                            help="Where the console is served (default: CUSTOS_ISSUER).")

    def handle(self, *args, **opts):
        if not setup.setup_open():
            return
        base = (opts["base_url"] or settings.CUSTOS_ISSUER).rstrip("/")
        hours = setup.conf().setup_link_ttl // 3600
        link = f"{base}/setup/?token={setup.setup_link_token()}"
        self.stdout.write("No staff account exists yet. To create the first one (a superuser with an authenticator "
                          f"app),\nopen this link within {hours} hours; it works once:\n\n    {link}\n")
