
from custos.commands import CustosCommand
from keys import selectors


class Command(CustosCommand):
    help = "List signing keys and their states (next, active, retired, expired)."

    def handle(self, *args, **opts):
        fmt = "{kid:<44} {alg:<6} {state:<8} {activates_at:<26} {verify_until}"
        self.stdout.write(fmt.format(kid="KID", alg="ALG", state="STATE", activates_at="SIGNS FROM",
                                     verify_until="VERIFIABLE UNTIL"))
        for k in selectors.key_states():
            self.stdout.write(fmt.format(kid=k["kid"], alg=k["alg"], state=k["state"],
                                         activates_at=k["activates_at"].isoformat(timespec="seconds"),
                                         verify_until=k["verify_until"].isoformat(timespec="seconds")
                                         if k["verify_until"] else "-"))
