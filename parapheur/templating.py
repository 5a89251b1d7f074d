"""Jinja templates outside a request: PDF documents (bordereau, demo documents), later mail.

The web pages use Flask's environment over the same directory (see parapheur.web). Both keep
their compiled templates in a cache of the process (`PROCESS_BYTECODE`).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from jinja2 import BytecodeCache, Environment, FileSystemLoader, select_autoescape
from jinja2.bccache import Bucket

from parapheur.dates import format_datetime
from parapheur.resources import shipped_dir


class ProcessBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for the process.

    Every application the process builds (a worker's, each test's) compiles a template once, not
    once per application. Jinja checks the template source's checksum at each load, so an edited
    template is compiled again; environments that compile differently (extensions, gettext
    style, autoescape) never share an entry.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get_bucket(self, environment: Environment, name: str, filename: str | None,
                   source: str) -> Bucket:
        key = f"{_fingerprint(environment)}:{self.get_cache_key(name, filename)}"
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        with self._lock:
            self._code.clear()


def _fingerprint(environment: Environment) -> str:
    """What changes the code Jinja compiles a template into, for one environment."""
    autoescape = environment.autoescape
    return repr((sorted(environment.extensions), getattr(environment, "newstyle_gettext", None),
                 environment.optimized, environment.trim_blocks, environment.lstrip_blocks,
                 environment.keep_trailing_newline, environment.block_start_string,
                 environment.variable_start_string, environment.comment_start_string,
                 environment.line_statement_prefix, environment.line_comment_prefix,
                 getattr(autoescape, "__qualname__", autoescape)))


#: The one cache of compiled templates of this process (web pages, mails and PDF documents).
PROCESS_BYTECODE = ProcessBytecodeCache()


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja environment of the shipped templates (autoescaped, with the French filters)."""
    env = Environment(loader=FileSystemLoader(str(shipped_dir("templates"))),
                      autoescape=select_autoescape(["html", "xml"]),
                      extensions=["jinja2.ext.i18n"], bytecode_cache=PROCESS_BYTECODE)
    # The sentences marked for translation stay in French here (mail, PDF), as the web pages
    # without a chosen language.
    env.install_null_translations(newstyle=True)
    env.filters["datetime_fr"] = format_datetime
    return env


def render(template: str, **context: Any) -> str:
    """Render a shipped template (e.g. "pdf/bordereau.html") to text."""
    return environment().get_template(template).render(**context)
