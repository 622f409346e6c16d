"""nova for gunicorn: OpenStack's WSGI entry points parse sys.argv as their own options,
so gunicorn's arguments are hidden from them."""
import sys

sys.argv = [sys.argv[0]]
from nova.wsgi.osapi_compute import application  # noqa: E402,F401
