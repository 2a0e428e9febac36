import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config import hot  # noqa: E402 - needs the configured Django above

# What never needs Django (the JWKS) is answered in front of it: see config/hot.py.
application = hot.wsgi(application)
