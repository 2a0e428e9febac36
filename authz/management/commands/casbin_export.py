import csv
import sys

from authz.models import CasbinRule
from custos.commands import CustosCommand


class Command(CustosCommand):
    help = "Write every policy rule as CSV in Casbin's format (ptype, v0, v1, ...) to a file or stdout."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", default="-")

    def handle(self, *args, **opts):
        out = sys.stdout if opts["output"] == "-" else open(opts["output"], "w", newline="", encoding="utf-8")
        try:
            writer = csv.writer(out, lineterminator="\n")
            n = 0
            for rule in CasbinRule.objects.order_by("ptype", "id").iterator(chunk_size=10000):
                writer.writerow([rule.ptype, *rule.values()])
                n += 1
        finally:
            if out is not sys.stdout:
                out.close()
        self.stderr.write(f"exported {n} rules")
