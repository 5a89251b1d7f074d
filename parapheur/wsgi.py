"""WSGI entry point for production servers: `gunicorn parapheur.wsgi:app`."""

from parapheur import create_app

app = create_app()
