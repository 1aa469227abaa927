"""Shared fixtures: test keys, a fixed clock, the CLI runner, and the shared reference folder."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

import qs_jwt._clock

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
    """No QS_JWT_* variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("QS_JWT_") and name != "QS_JWT_SHARED_DIR":
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


@pytest.fixture
def wycheproof_dir() -> Path:
    if not WYCHEPROOF.is_dir():
        pytest.skip(f"Wycheproof vectors not found at {WYCHEPROOF} (the shared folder beside the checkout)")
    return WYCHEPROOF


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
