from django.core.management.base import BaseCommand

from audit.services import Actor
from authz import services


class Command(BaseCommand):
    help = ("Create a service key for NAME. The secret is printed once and never stored; what the "
            "service may do is Casbin policy on subject svc:NAME.")

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **opts):
        key, credential = services.service_key_create(name=opts["name"], actor=Actor.system("create_service_key"))
        self.stdout.write(f"service: svc:{key.name}\nkey id:  {key.key_id}\n"
                          f"Authorization: ApiKey {credential}\n(the secret is shown only now)")
