"""Shared fixtures: test keys, a fixed clock, the CLI runner, and the shared reference folder.

Tests that need ``../shared`` (beside the checkout, or ``$QS_JWT_SHARED_DIR``) take the ``shared_dir`` or
``wycheproof_dir`` fixture, or call :func:`require_shared`: when the folder is absent they are skipped with a
reason, except under ``CI=true``, where they fail, so that a CI run never passes without them.

Tests marked ``slow`` (building and installing the sdist) run only with ``--run-slow``; ``.ci/run`` runs them.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

import qs_jwt._clock
from qlik_emulator.fixtures import (  # noqa: F401 - fixtures, found by pytest in this module's namespace
    qlik_emulator_servers,
    qscloud_emulator,
    qscloud_tenants,
    qseow_emulator,
    qseow_emulator_expired_cert,
    qseow_emulator_http,
    qseow_emulator_own_ca,
    qseow_emulator_self_signed,
)

# the same examples on every run: a property failure is a bug to fix, never a flaky CI
settings.register_profile("qs-jwt", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("qs-jwt")

KEYS = Path(__file__).parent / "keys"
ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the project checkout (override with QS_JWT_SHARED_DIR)
SHARED = Path(os.environ.get("QS_JWT_SHARED_DIR", ROOT.parent / "shared"))
WYCHEPROOF = SHARED / "vectors" / "wycheproof"

#: 2027-01-15T08:00:00Z: the fixed "now" of deterministic tests
FIXED_NOW = 1_800_000_000

PASSPHRASE = "correct horse"

# a checkout gives files mode 0644; the private keys get 0600, as the tool expects (it warns otherwise)
for _private in KEYS.iterdir():
    if _private.suffix in (".pem", ".der") and "public" not in _private.name and "cert" not in _private.name:
        _private.chmod(0o600)


def key_path(name: str) -> str:
    return str(KEYS / name)


def key_bytes(name: str) -> bytes:
    return (KEYS / name).read_bytes()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QS_JWT_* variable (nor $QLIK_API_KEY, $QLIK_OAUTH_CLIENT_SECRET) of the machine leaks into a test."""
    for name in list(os.environ):
        if (name.startswith("QS_JWT_") and name != "QS_JWT_SHARED_DIR") or name in ("QLIK_API_KEY",
                                                                                     "QLIK_OAUTH_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> int:
    """Freeze the library clock at FIXED_NOW and return it."""
    monkeypatch.setattr(qs_jwt._clock, "now", lambda: float(FIXED_NOW))
    return FIXED_NOW


@pytest.fixture(scope="session")
def private_pem() -> bytes:
    return key_bytes("rsa2048_pkcs8.pem")


@pytest.fixture(scope="session")
def public_pem() -> bytes:
    return key_bytes("rsa2048_public.pem")


@pytest.fixture(scope="session")
def private_key(private_pem: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(private_pem, password=None)


@pytest.fixture(scope="session")
def public_key(private_key):  # type: ignore[no-untyped-def]
    return private_key.public_key()


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as CI services set it): missing shared files then fail."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def shared_missing(message: str) -> NoReturn:
    """Skip the running test because shared test data is missing, or fail it under ``CI=true``."""
    if in_ci():
        pytest.fail(f"{message}; CI=true, so missing shared test data is an error, not a skip", pytrace=False)
    pytest.skip(message)


def require_shared(path: Path, what: str = "shared test data") -> Path:
    """``path`` (a file or folder in the shared folder) when it exists; else skip, or fail under ``CI=true``."""
    if not path.exists():
        shared_missing(f"{what} not found at {path} (../shared beside the checkout, or $QS_JWT_SHARED_DIR)")
    return path


@pytest.fixture
def shared_dir() -> Path:
    """The shared folder (``SHARED``)."""
    return require_shared(SHARED, "the shared folder")


@pytest.fixture
def wycheproof_dir(request: pytest.FixtureRequest) -> Path:
    """The Wycheproof vector folder (``WYCHEPROOF``).

    test_wycheproof.py builds its parameters from the vector files at import time and puts a placeholder
    parameter, id ``vectors-missing``, in place of a file that is absent: such a test needs that file.
    """
    folder = require_shared(WYCHEPROOF, "Wycheproof vectors")
    if "vectors-missing" in request.node.name:
        shared_missing(f"the Wycheproof vector file that {request.node.name} reads is missing from {folder}")
    return folder


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (building and installing the sdist)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow (.ci/run does)")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``qs-jwt ARGS`` in-process; return exit code, stdout and stderr separately.

    ``stdin`` (bytes or text) is fed to standard input; ``env`` adds environment variables.
    """
    from qs_jwt.cli import main

    def run(*args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None) -> CliResult:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        data = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session", autouse=True)
def _checkout_stays_clean():
    """No test may leave files in the checkout (key files written to the working directory, say)."""
    def visible() -> set[str]:  # caches (.pytest_cache, .hypothesis) are dot folders, and ignored by git
        return {name for name in os.listdir(ROOT) if not name.startswith(".")}

    before = visible()
    yield
    left = sorted(visible() - before)
    if left:
        pytest.fail(f"the tests left files in the checkout: {left}", pytrace=False)
