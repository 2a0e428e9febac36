"""manage.py oauth_provider add|list|enable|disable|remove|test (the interface is fixed: the
gateway team scripts against it, docs/federation.md)."""
from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from audit.services import Actor
from custos.commands import CustosCommand
from custos.exceptions import CustosError
from federation import providers, selectors

KINDS = ("oidc", "google", "github", "apple", "wechat")


def _message(exc: CustosError) -> str:
    if exc.fields:
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.fields.items())
    return exc.message


def _read_key(path: str | None) -> str | None:
    """The .p8 file's text; its content is never echoed (an error names the path only)."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(8193)
    except (OSError, UnicodeError) as exc:
        raise CustosError(f"private_key_file: cannot read {path!r} ({type(exc).__name__}).") from exc
    if len(text) > 8192:
        raise CustosError(f"private_key_file: {path!r} is not a private key (too large).")
    return text


class Command(CustosCommand):
    help = "Configure the external identity providers users may sign in with."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Register a provider (NAME is the {provider} in /v1/oauth/{provider}/...).")
        add.add_argument("name")
        add.add_argument("--kind", required=True, choices=KINDS)
        add.add_argument("--client-id", required=True)
        add.add_argument("--client-secret", help="Every kind but apple.")
        add.add_argument("--issuer")
        add.add_argument("--scopes")
        add.add_argument("--display-name")
        add.add_argument("--trust-email", action="store_true")
        add.add_argument("--store-tokens", action="store_true",
                         help="Keep the provider's access and refresh tokens, sealed, in user_oauth.")
        add.add_argument("--team-id", help="apple: the Apple Developer team id.")
        add.add_argument("--key-id", help="apple: the id of the Sign in with Apple private key.")
        add.add_argument("--private-key-file", help="apple: the key's .p8 file (PEM); sealed, never shown again.")
        sub.add_parser("list", help="List the providers (secrets are never shown).")
        for name, text in (("enable", "Offer the provider again."), ("disable", "Stop offering the provider."),
                           ("remove", "Delete the provider (bound identities stay)."),
                           ("test", "Check discovery, the JWKS and the credentials' shape.")):
            sub.add_parser(name, help=text).add_argument("name")

    def handle(self, *args, **opts) -> None:
        actor = Actor.system("oauth_provider")
        action = opts["action"]
        try:
            if action == "add":
                p = providers.provider_add(name=opts["name"], kind=opts["kind"], client_id=opts["client_id"],
                                          client_secret=opts["client_secret"], issuer=opts["issuer"],
                                          scopes=opts["scopes"], display_name=opts["display_name"],
                                          trust_email=opts["trust_email"], store_tokens=opts["store_tokens"],
                                          team_id=opts["team_id"], key_id=opts["key_id"],
                                          private_key=_read_key(opts["private_key_file"]), actor=actor)
                self.stdout.write(f"added {p.name} ({p.kind}, issuer {p.issuer})")
            elif action == "list":
                for p in selectors.providers_all():
                    self.stdout.write("\t".join([p.name, p.kind, "enabled" if p.enabled else "disabled", p.issuer,
                                                 p.client_id, p.scopes, p.display_name,
                                                 "trust-email" if p.trust_email else "-",
                                                 "store-tokens" if p.store_tokens else "-"]))
            elif action in ("enable", "disable"):
                p = providers.provider_set_enabled(name=opts["name"], enabled=action == "enable", actor=actor)
                self.stdout.write(f"{p.name} {action}d")
            elif action == "remove":
                providers.provider_remove(name=opts["name"], actor=actor)
                self.stdout.write(f"removed {opts['name']}")
            elif action == "test":
                for note in providers.provider_test(name=opts["name"]):
                    self.stdout.write(note)
                self.stdout.write(f"{opts['name']} ok")
        except CustosError as exc:
            raise CommandError(_message(exc)) from exc
