"""The WSGI application that ``zwm web`` hands to gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
application = get_wsgi_application()
