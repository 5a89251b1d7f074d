"""Fixtures shared by the whole suite.

Domain fixtures live beside their tests (tests/<domain>/conftest.py); the ones here are the few every
domain needs: access to ../shared, system tools, and the rule that CI never skips silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


def pytest_configure(config):
    """Cheap password hashing in the test processes: argon2 with its smallest costs.

    A login verifies an argon2 hash (a fifth of a second with the product's costs, in
    `parapheur/accounts/services.py`), and the suite logs in a few thousand times. Hashes made here
    carry their own low costs, so they verify fast; the tests that start the product in another
    process (`make run`, the installed wheel, gunicorn) keep the real costs.
    """
    from argon2 import PasswordHasher

    from parapheur.accounts import services

    services._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _collect_garbage_less_often()
    _share_url_builders()
    _share_compiled_statements()
    _remember_loaded_keys()


#: The cyclic collector's thresholds in a test process (Python's default: 700, 10, 10).
GC_THRESHOLDS = (10_000, 10, 10)


def _collect_garbage_less_often() -> None:
    """A test process allocates far more than a served one (an application, a database and a
    demo per test): with Python's default thresholds, the cyclic collector took a sixth of a
    worker's CPU, most of it in full collections over everything the process had loaded. The
    young generation is collected every 10,000 allocations instead of 700, and what collection
    loaded (`pytest_collection_finish`) is moved out of the collector's reach."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def pytest_collection_finish(session):
    """The modules, fixtures and test items loaded by collection live as long as the process:
    frozen, so that full collections no longer scan them (see `_collect_garbage_less_often`)."""
    import gc

    gc.freeze()


def _remember_loaded_keys() -> None:
    """OpenSSL checks an RSA private key's primes whenever it loads one (50 ms for 2,048 bits);
    pyHanko's in-process signers and TSA reload their key for every signature, and every signature
    opens its PKCS#12 file: a seventh of the suite's CPU. A test process loads given bytes with a
    given password once: only successful loads are remembered, so every refusal (a wrong
    password, a damaged file) happens as before, and the objects loaded are immutable.
    """
    import threading

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    def remembering(load):
        loaded: dict = {}
        lock = threading.Lock()

        def load_once(data, password=None, *args, **kwargs):
            key = (bytes(data), None if password is None else bytes(password), args,
                   tuple(sorted(kwargs.items())))
            with lock:
                if key in loaded:
                    return loaded[key]
            result = load(data, password, *args, **kwargs)
            with lock:
                loaded[key] = result
            return result

        return load_once

    for module, name in ((serialization, "load_der_private_key"),
                         (serialization, "load_pem_private_key"),
                         (pkcs12, "load_key_and_certificates")):
        setattr(module, name, remembering(getattr(module, name)))


def _share_compiled_statements() -> None:
    """Each test builds its own application, hence its own engine, and SQLAlchemy keeps the SQL
    it compiled per engine (the key holds the dialect object): every test compiled each of its
    statements again, close to half of the time the suite spends executing them. The product's
    engines (`parapheur.db.make_engine`) of one test process share one dialect per dialect class,
    that of the first engine of that class once it has connected (initialised by the server it
    talked to: the same server and library for every test), and one compiled-statement cache.
    """
    from sqlalchemy import event
    from sqlalchemy.util import LRUCache

    from parapheur import db

    make_engine = db.make_engine
    donors: dict[type, object] = {}
    cache = LRUCache(20_000)

    def sharing_engine(url, **kwargs):
        engine = make_engine(url, **kwargs)
        kind = type(engine.dialect)
        donor = donors.get(kind)
        if donor is not None:
            engine.dialect = donor
            engine._compiled_cache = cache
        elif getattr(engine, "_compiled_cache", None) is not None:
            engine._compiled_cache = cache

            @event.listens_for(engine, "connect", once=True)
            def _initialised(*_args):  # the dialect knows its server after its first connect
                donors.setdefault(kind, engine.dialect)
        return engine

    db.make_engine = sharing_engine


def _share_url_builders() -> None:
    """Each test builds its own application, and werkzeug compiles two URL builders (Python code
    made from an AST) for each of its routes: a sixth of the suite's CPU. The builders of one
    route are the same code in every application, so a test process compiles them once.

    The key holds everything the generated code depends on (the rule, its parsed trace, its
    defaults and converters); the function takes the rule as its first argument and is bound to
    each application's own rule, as werkzeug does.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders: dict = {}

    def shared_builder(self, append_unknown=True):
        defaults = self.defaults or {}
        # The generated code calls the converters at build time; only a dynamic part that has a
        # default is converted while compiling, so only those converters are part of the key.
        converters = tuple(sorted(
            (name, type(converter).__qualname__,
             repr(sorted((k, v) for k, v in vars(converter).items() if k != "map")))
            for name, converter in self._converters.items() if name in defaults))
        key = (self.rule, tuple(self._trace), repr(sorted(defaults.items())) if defaults else "",
               converters, append_unknown)
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = compile_builder(self, append_unknown)
        return builder

    Rule._compile_builder = shared_builder


def pytest_collection_modifyitems(config, items):
    """App tests run on SQLite; their PostgreSQL variant runs where PostgreSQL is what is tested;
    long tests start early.

    A test (or module) marked `postgres` runs on both databases: SQL the two dialects answer
    differently, row locks and concurrency, exactly-once delivery, migrations, query counts and plans.
    The others run on SQLite only, so that the suite stays under its time budget;
    PARAPHEUR_TEST_ALL_ON_POSTGRES=1 runs every app test on both (e.g. before a release).
    """
    if os.environ.get("PARAPHEUR_TEST_ALL_ON_POSTGRES") != "1":
        kept, dropped = [], []
        for item in items:
            callspec = getattr(item, "callspec", None)
            on_postgres = callspec is not None and callspec.params.get("database_url") == "postgres"
            (dropped if on_postgres and item.get_closest_marker("postgres") is None
             else kept).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    items[:] = _long_tests_early(items)


def _long_tests_early(items: list) -> list:
    """The tests marked `slow` or `e2e` (a browser, real processes: several seconds each, up to a
    minute when the machine is busy) spread over the first half of the run, between modules, so
    that the workers end together on short tests instead of one finishing a long test alone
    while the other cores idle. (Over the first two thirds, the production layout's test started
    at 80 % of the run's time, the later modules being the longer ones, and once ran 68 s.)

    Each module's tests stay together and in their order (module fixtures are set up once), and
    the order is the same in every xdist worker, as xdist requires.
    """
    def long(item) -> bool:
        return any(item.get_closest_marker(name) for name in ("slow", "e2e"))

    def by_module(selected: list) -> list[list]:
        groups: list[list] = []
        for item in selected:
            if groups and groups[-1][0].path == item.path:
                groups[-1].append(item)
            else:
                groups.append([item])
        return groups

    long_groups = by_module([item for item in items if long(item)])
    short_groups = by_module([item for item in items if not long(item)])
    if not long_groups or not short_groups:
        return items
    reach = max(1, len(short_groups) // 2)
    slots: dict[int, list] = {}
    for index, group in enumerate(long_groups):
        slots.setdefault(index * reach // len(long_groups), []).append(group)
    ordered: list = []
    for position, group in enumerate(short_groups):
        for placed in slots.get(position, []):
            ordered.extend(placed)
        ordered.extend(group)
    return ordered


def require_system_tool(name: str, package: str) -> str:
    """Return the path of a system tool, or skip (fail under PARAPHEUR_REQUIRE_SYSTEM_DEPS=1)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian package {package}; `make sysdeps` installs it)"
    if os.environ.get("PARAPHEUR_REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder (real samples and schemas); skips where absent, except in CI."""
    if SHARED_DIR.is_dir():
        return SHARED_DIR
    message = f"{SHARED_DIR} is absent: tests on real samples and schemas cannot run here"
    if os.environ.get("PARAPHEUR_REQUIRE_SHARED") == "1" or os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pdfsig() -> str:
    """poppler's independent PDF signature checker."""
    return require_system_tool("pdfsig", "poppler-utils")


@pytest.fixture(scope="session")
def system_tool():
    """`system_tool(name, package)`: a system tool's path, or skip/fail as require_system_tool."""
    return require_system_tool


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, for end-to-end tests driven by Playwright."""
    return require_system_tool("chromium", "chromium")


# --- PKI and tokens (signing layer) ---
# Session fixtures from the signing layer: a development PKI generated once per test process
# (each xdist worker has its own) and its TSA/OCSP/CRL responders on real loopback HTTP.

DEV_PKI_PASSPHRASE = "dev-passphrase"
DEV_PKI_PEOPLE = (
    ("maire", "Martine Dupont", "Maire"),
    ("adjoint", "Jean-Étienne Lefèvre", "Premier adjoint"),
    ("dgs", "Françoise Nguyen", "Directrice générale des services"),
)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed from the npm registry by `make test` (or PARAPHEUR_AXE_JS)."""
    path = Path(os.environ.get("PARAPHEUR_AXE_JS")
                or REPO_ROOT / ".venv/npm/node_modules/axe-core/axe.min.js")
    if not path.is_file():
        message = f"axe-core is not installed at {path} (`make test` installs it with npm)"
        if os.environ.get("PARAPHEUR_REQUIRE_SYSTEM_DEPS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory):
    """A signing.pki.DevPki (passphrase DEV_PKI_PASSPHRASE); see signing/pki.py for its keys."""
    from signing.pki import Person, init_dev_pki
    from signing.pki_server import free_loopback_port

    directory = tmp_path_factory.mktemp("dev-pki")
    port = free_loopback_port()
    return init_dev_pki(directory, organisation="Ville de Saint-Étienne-les-Orgues",
                        people=[Person(*p) for p in DEV_PKI_PEOPLE],
                        passphrase=DEV_PKI_PASSPHRASE, base_url=f"http://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def pki_server(dev_pki):
    """The dev PKI's TSA, OCSP and CRL served on 127.0.0.1 (`.tsa_url`, `.base_url`)."""
    from signing.pki_server import PkiServer

    server = PkiServer(dev_pki)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def softhsm_token(dev_pki, tmp_path_factory):
    """A real SoftHSM2 token (SOFTHSM2_CONF set for this process) with the mayor's key and the seal.

    Attributes: module, token_label, pin, key_labels ("maire", "seal").
    """
    require_system_tool("softhsm2-util", "softhsm2")
    from signing.softhsm import provision

    return provision(tmp_path_factory.mktemp("softhsm"), dev_pki, keys=("maire",))
