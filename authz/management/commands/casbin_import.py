import csv
import sys

from django.core.management.base import CommandError

from audit.services import Actor
from authz import services
from custos.commands import CustosCommand


class Command(CustosCommand):
    help = ("Read policy rules from CSV in Casbin's format (ptype, v0, v1, ...; spaces after commas "
            "allowed). Rules already present are skipped; --replace first removes every rule.")

    def add_arguments(self, parser):
        parser.add_argument("input", help="a file, or - for stdin")
        parser.add_argument("--replace", action="store_true")

    def handle(self, *args, **opts):
        src = sys.stdin if opts["input"] == "-" else open(opts["input"], newline="", encoding="utf-8")
        try:
            rows = [[c.strip() for c in row] for row in csv.reader(src, skipinitialspace=True)
                    if row and not row[0].lstrip().startswith("#")]
        finally:
            if src is not sys.stdin:
                src.close()
        try:
            added = services.policy_import(rows=rows, replace=opts["replace"], actor=Actor.system("casbin_import"))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"imported {added} new rules ({len(rows)} read)")
