"""Parapheur's signing layer: PAdES signatures with pyHanko, with no Flask and no database.

Usable alone; the web application, the bulk `parapheur sign` command and the browser flow all go
through it.
"""
