"""Signature and seal steps: the web app's side of the signing layer."""
