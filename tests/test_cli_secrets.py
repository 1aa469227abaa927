"""No secret in any message: every option of every command, given key text, a token or a secret.

The rule (README, "Security notes"): messages never echo PEM text, anything shaped like a token or
random key material, or any value of a passphrase option; a wrong choice or number names the option
and lists the accepted values; a value that reads as a path may be shown.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

import qs_jwt
from conftest import FIXED_NOW, key_bytes, key_path
from qs_jwt.cli import build_parser
from qs_jwt.redact import looks_like_path, redact, secret_kind

PEM = key_bytes("rsa2048_pkcs8.pem").decode()
PEM_BODY = [line for line in PEM.splitlines() if line and not line.startswith("-----")]
TOKEN = qs_jwt.create_qscloud_token(PEM.encode(), issuer="i", keyid="k", sub="s", now=FIXED_NOW).token
SECRET = "Zk3aQ9vT2mXw8LpR4nB7cY1dE6hJ0sUo"  # an API key or client secret: random base64
PASSPHRASE = "correct horse battery staple"

#: the smallest working command line of each command; {key}, {tmp} are filled in
BASE = {
    ("create-qscloud",): ["--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-privatekey-file", "{key}"],
    ("create-qseow",): ["--userdir", "d", "--userid", "u", "--audience", "a", "--expires", "1h",
                        "--cert-privatekey-file", "{key}"],
    ("decode",): ["--jwt", TOKEN],
    ("check",): ["--target", "qscloud", "--jwt", TOKEN],
    ("cert", "create"): ["--cert-file-prefix", "{tmp}/", "--days", "1", "--key-size", "2048"],
    ("cert", "show"): ["{key}"],
    ("cert", "jwks"): ["{key}"],
    ("cert", "check"): ["{key}"],
    # nothing listens on port 9 of 127.0.0.1: the HTTP commands fail fast, and their messages are what is checked
    ("qseow", "call"): ["GET", "/qrs/about", "--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN, "--timeout", "2",
                        "--retries", "1"],
    ("qseow", "server-cert"): ["--server", "https://127.0.0.1:9", "--timeout", "2"],
    ("qseow", "qlik-cli-context"): ["--name", "n", "--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN],
    ("qseow", "virtual-proxy", "create"): ["--prefix", "jwt", "--cert-file", "{cert}", "--dry-run"],
    ("qseow", "virtual-proxy", "list"): ["--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN, "--timeout", "2",
                                         "--retries", "1"],
    ("qseow", "virtual-proxy", "check"): ["jwt", "--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN,
                                          "--cert-privatekey-file", "{key}", "--timeout", "2", "--retries", "1"],
    ("qscloud", "login"): ["--tenant", "https://127.0.0.1:9", "--jwt", TOKEN, "--timeout", "2", "--retries", "1"],
    ("qscloud", "call"): ["GET", "/api/v1/users/me", "--tenant", "https://127.0.0.1:9", "--jwt", TOKEN, "--timeout",
                          "2", "--retries", "1"],
    ("qscloud", "idp", "create"): ["--issuer", "i", "--cert-file", "{cert}", "--dry-run"],
    ("qscloud", "idp", "list"): ["--tenant", "https://127.0.0.1:9", "--api-key", "k", "--timeout", "2", "--retries",
                                 "1"],
    ("qscloud", "idp", "get"): ["id1", "--tenant", "https://127.0.0.1:9", "--api-key", "k", "--timeout", "2",
                                "--retries", "1"],
    ("qscloud", "idp", "delete"): ["id1", "--tenant", "https://127.0.0.1:9", "--api-key", "k", "--timeout", "2",
                                   "--retries", "1"],
    ("qscloud", "idp", "check"): ["--tenant", "https://127.0.0.1:9", "--api-key", "k", "--cert-privatekey-file",
                                  "{key}", "--timeout", "2", "--retries", "1"],
    ("qscloud", "idp", "rotate"): ["--tenant", "https://127.0.0.1:9", "--api-key", "k", "--issuer", "i",
                                   "--new-cert-file", "{cert}", "--new-private-key-file", "{key}", "--timeout", "2",
                                   "--retries", "1"],
    ("qscloud", "idp", "retire"): ["--tenant", "https://127.0.0.1:9", "--api-key", "k", "--issuer", "i", "--keep-kid",
                                   "k", "--timeout", "2", "--retries", "1"],
    ("qscloud", "oauth", "token"): ["--tenant", "https://127.0.0.1:9", "--client-id", "c", "--client-secret",
                                    "a-long-client-secret", "--timeout", "2", "--retries", "1"],
    ("create-client-assertion",): ["--tenant", "t.example.com", "--client-id", "c", "--keyid", "k",
                                   "--cert-privatekey-file", "{key}"],
    ("qseow", "virtual-proxy", "rotate-cert"): ["jwt", "--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN,
                                                "--cert-file", "{cert}", "--yes", "--timeout", "2", "--retries", "1"],
    ("qseow", "deployment", "create"): ["--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN, "--name", "n",
                                        "--tenant", "t.example.com", "--timeout", "2", "--retries", "1"],
    ("qseow", "deployment", "bearer-token"): ["id1", "--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN,
                                              "--timeout", "2", "--retries", "1"],
    ("multicloud", "setup"): ["--server", "https://127.0.0.1:9/jwt", "--jwt", TOKEN, "--tenants-file", "{tmp}/t.csv",
                              "--timeout", "2", "--retries", "1"],
    ("profile", "list"): [],
    ("profile", "show"): ["dev"],
    ("qscloud", "multicloud", "decode"): ["--bearer-token", "bm90IGpzb24="],
    ("qscloud", "multicloud", "create"): ["--from-bearer-token", "bm90IGpzb24=", "--hostname", "h", "--dry-run"],
}


def _subparser(command: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in command:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _value_options(command: tuple[str, ...]) -> list[str]:
    """Every option of ``command`` that takes a value (flags without values cannot carry a secret)."""
    return [max(a.option_strings, key=len) for a in _subparser(command)._actions
            if a.option_strings and a.nargs != 0 and "--help" not in a.option_strings]


CASES = [(command, option) for command in BASE for option in _value_options(command)]
CASES += [(command, "FILE") for command in BASE if command[0] == "cert" and command[1] != "create"]


def _argv(command: tuple[str, ...], option: str, value: str, tmp: Path) -> list[str]:
    base = [part.format(key=key_path("rsa2048_pkcs8.pem"), cert=key_path("rsa2048_cert.pem"), tmp=tmp)
            if part.startswith("{") or "{tmp}" in part else part for part in BASE[command]]
    if option == "FILE":
        return [*command, value, *base[1:]]
    if option in base:  # replace the base value
        index = base.index(option)
        base = base[:index] + base[index + 2:]
    return [*command, *base, option, value]


def _leaks(text: str, value: str) -> bool:
    if value == PEM:
        return any(line in text for line in PEM_BODY)
    if value == TOKEN:
        return any(part in text for part in TOKEN.split(".")[1:])
    return value in text


@pytest.mark.parametrize(("command", "option"), CASES, ids=[" ".join((*c, o)) for c, o in CASES])
@pytest.mark.parametrize("value", [PEM, TOKEN, SECRET], ids=["pem", "token", "secret"])
def test_no_option_echoes_a_secret(run_cli, tmp_path, fixed_now, monkeypatch, command, option, value) -> None:
    monkeypatch.chdir(tmp_path)  # a value taken for a file-name prefix writes there
    result = run_cli(*_argv(command, option, value, tmp_path), "--loglevel", "debug")
    assert not _leaks(result.stderr, value), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") <= 40


PASSPHRASE_OPTIONS = [(c, o) for c, o in CASES if "passphrase" in o]


@pytest.mark.parametrize(("command", "option"), PASSPHRASE_OPTIONS, ids=[" ".join((*c, o)) for c, o in
                                                                          PASSPHRASE_OPTIONS])
def test_a_passphrase_option_value_is_never_shown(run_cli, tmp_path, fixed_now, monkeypatch, command,
                                                   option) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(*_argv(command, option, PASSPHRASE, tmp_path), "--loglevel", "debug")
    assert PASSPHRASE not in result.stderr and PASSPHRASE not in result.stdout
    if f"{option} is not used" in result.stderr or f"{option} are not used" in result.stderr:
        return  # a command that does not need the key says the option is ignored
    assert result.exit_code != 0
    assert f"{option}: no such file" in result.stderr
    assert "it may be the secret itself" in result.stderr


@pytest.mark.parametrize("option", ["--cert-privatekey-file", "--cert-publickey-file", "--jwks-file", "--jwt-file"])
def test_key_text_where_a_path_belongs_names_the_option(run_cli, option) -> None:
    command = ["create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s"] if option == "--cert-privatekey-file" \
        else ["decode", "--jwt", TOKEN] if option != "--jwt-file" else ["decode"]
    result = run_cli(*command, option, PEM)
    assert result.exit_code == 1
    assert f"{option}: no such file (the value looks like PEM key text: give a path" in result.stderr
    if option == "--cert-privatekey-file":
        assert "or set $QS_JWT_PRIVATE_KEY" in result.stderr
    assert not _leaks(result.stderr, PEM)


def test_cert_show_with_key_text_as_file(run_cli) -> None:
    result = run_cli("cert", "show", TOKEN)
    assert result.exit_code == 1
    assert "cert show FILE: no such file (the value looks like a token" in result.stderr
    assert not _leaks(result.stderr, TOKEN)


def test_a_path_that_reads_as_a_path_is_shown(run_cli, tmp_path) -> None:
    missing = str(tmp_path / "keys" / "privatekey.pem")
    result = run_cli("create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-privatekey-file",
                     missing)
    assert result.exit_code == 1
    assert f"--cert-privatekey-file: {missing}: no such file" in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["decode", "--jwt", TOKEN, "--loglevel", PASSPHRASE], "--loglevel: invalid value; use one of error, warn"),
        (["cert", "create", "--days", "1", "--key-size", PASSPHRASE], "--cert-create-key-size: invalid value, "
                                                                       "expected 2048|3072|4096"),
        (["cert", "create", "--days", "1", "--key-size", "1024"], "--cert-create-key-size: invalid value; use one of "
                                                                   "2048, 3072, 4096"),
        (["decode", "--jwt", TOKEN, "--leeway", PASSPHRASE], "--leeway: expected a number of seconds from 0 to"),
        (["decode", "--jwt", TOKEN, "--output", PASSPHRASE], "--output: invalid value; use one of text, json"),
        (["check", "--target", PASSPHRASE, "--jwt", TOKEN], "--target: invalid value; use one of qscloud, qseow"),
    ],
)
def test_choice_and_number_errors_list_the_accepted_values(run_cli, argv, expected) -> None:
    result = run_cli(*argv)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert PASSPHRASE not in result.stderr


def test_unknown_command_suggests_without_echoing_secrets(run_cli) -> None:
    result = run_cli("create-qscloude", "--issuer", "i")
    assert result.exit_code == 2 and "did you mean create-qscloud?" in result.stderr
    result = run_cli(PEM)
    assert result.exit_code == 2 and not _leaks(result.stderr, PEM)


def test_redaction_is_linear_time() -> None:
    # 0.1 took 5.5 s on one 128 KB argument of repeated "eyJ"; linear time is a few milliseconds
    for text in ("eyJ" * 44000, "eyJ." * 33000, "-----BEGIN " * 12000, "aB1" * 44000, "a/" * 66000):
        start = time.perf_counter()
        redact(text)
        secret_kind(text)
        looks_like_path(text)
        assert time.perf_counter() - start < 1.0, text[:10]


def test_huge_argument_is_refused_quickly(run_cli) -> None:
    start = time.perf_counter()
    result = run_cli("create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "eyJ" * 44000,
                     "--cert-privatekey-file", key_path("rsa2048_pkcs8.pem"))
    assert result.exit_code == 2 and "sub" in result.stderr
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("text", "kind"),
    [(PEM, "PEM key text"), (TOKEN, "a token"), (SECRET, "a secret"), ("d41d8cd98f00b204e9800998ecf8427e", "a secret"),
     ("keys/privatekey.pem", None), ("C:\\Users\\admin\\keys\\privatekey.pem", None), ("my-app", None),
     ("/home/alice/qlik/prod-privatekey.pem", None), ("qlik.api/login/jwt-session", None)],
)
def test_secret_kinds(text, kind) -> None:
    assert secret_kind(text) == kind
    assert looks_like_path(text) is (kind is None)
