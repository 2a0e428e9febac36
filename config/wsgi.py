import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from keys.api.fastpath import JwksFastPath  # noqa: E402 - needs the configured Django above

# The JWKS is fetched by every verifier and is the same bytes for everyone: it is answered
# before Django's request machinery (see keys/api/fastpath.py).
application = JwksFastPath(application)
