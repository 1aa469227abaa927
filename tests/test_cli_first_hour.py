"""A user's first hour: damaged tokens, typos, noise, and the environment failing under the tool."""

from __future__ import annotations

import subprocess
import sys

import pytest

import qs_jwt
from conftest import FIXED_NOW, ROOT, key_bytes, key_path

PEM = key_bytes("rsa2048_pkcs8.pem")
CERT = key_path("rsa2048_cert.pem")
KEY = key_path("rsa2048_pkcs8.pem")
TOKEN = qs_jwt.create_qscloud_token(PEM, issuer="my-app", keyid="k1", sub="alice", now=FIXED_NOW).token
QSEOW_TOKEN = qs_jwt.create_qseow_token(PEM, user_id="alice", user_directory="ACME", audience="qlik", expires="1h",
                                        now=FIXED_NOW).token
SRC = str(ROOT / "src")


# --- damaged tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 6, 7])
def test_a_token_cut_short_says_it_looks_truncated(run_cli, fixed_now, cut) -> None:
    result = run_cli("decode", "--jwt", TOKEN[:-cut], "--cert-publickey-file", CERT)
    assert result.exit_code in (1, 3)
    assert "looks truncated" in result.stderr + result.stdout
    assert "non-canonical" not in result.stderr or "truncated" in result.stderr


def test_a_cut_that_leaves_valid_base64url_is_found_by_the_signature_length(run_cli, fixed_now) -> None:
    cut = TOKEN[:-2]  # 342 characters less two: still canonical base64url, one byte short
    result = run_cli("decode", "--jwt", cut, "--cert-publickey-file", CERT)
    assert result.exit_code == 3
    assert "the signature is 255 bytes, the key's are 256: the token looks truncated" in result.stdout
    report = qs_jwt.check_qscloud(cut, key=qs_jwt.load_public_key(key_bytes("rsa2048_cert.pem")), now=FIXED_NOW)
    assert any("truncated" in f.message for f in report.errors)


def test_a_token_cut_in_the_middle(run_cli) -> None:
    head_and_half = TOKEN.split(".")[0] + "." + TOKEN.split(".")[1]
    result = run_cli("decode", "--jwt", head_and_half)
    assert result.exit_code == 1 and "looks truncated" in result.stderr


@pytest.mark.parametrize("wrapped", [f'"{TOKEN}"', f"'{TOKEN}'", f"Bearer {TOKEN}", f"Authorization: Bearer {TOKEN}",
                                     f'  "Bearer {TOKEN}"\n', f"authorization:bearer   {TOKEN}"])
def test_quotes_and_an_authorization_prefix_are_stripped(run_cli, fixed_now, wrapped) -> None:
    result = run_cli("decode", "--jwt", wrapped, "--cert-publickey-file", CERT)
    assert result.exit_code == 0, result.stderr
    result = run_cli("check", "--target", "qscloud", stdin=wrapped)
    assert result.exit_code == 0, result.stdout
    assert qs_jwt.normalize_token_text(wrapped) == TOKEN


def test_check_on_the_other_products_token_names_the_right_target(run_cli, fixed_now) -> None:
    result = run_cli("check", "--target", "qscloud", "--jwt", QSEOW_TOKEN)
    assert result.exit_code == 3
    assert "--target qseow" in result.stdout
    result = run_cli("check", "--target", "qseow", "--jwt", TOKEN)
    assert result.exit_code == 3
    assert "--target qscloud" in result.stdout


# --- typos ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["create-qscloud", "--expire", "5m"], "--expire (did you mean --expires?)"),
        (["create-qseow", "--user-id", "a"], "--user-id (did you mean --userid?)"),
        (["decode", "--jwt-fil", "x"], "--jwt-fil (did you mean --jwt-file?)"),
        (["cert", "create", "--day", "3"], "--day (did you mean --days?)"),
    ],
)
def test_an_unknown_option_suggests_the_closest(run_cli, argv, suggestion) -> None:
    result = run_cli(*argv)
    assert result.exit_code == 2
    assert suggestion in result.stderr


def test_commas_in_groups_warn(run_cli, fixed_now) -> None:
    result = run_cli("create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--groups", "Sales,Finance",
                     "--cert-privatekey-file", KEY)
    assert result.exit_code == 0
    assert "a comma does not separate groups" in result.stderr
    assert qs_jwt.decode_unverified(result.stdout.strip()).payload["groups"] == ["Sales,Finance"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_loglevel_before_or_after_the_command(run_cli, fixed_now, where) -> None:
    args = ["create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-privatekey-file", KEY]
    argv = ["--loglevel", "verbose", *args] if where == "before" else [*args, "--loglevel", "verbose"]
    result = run_cli(*argv)
    assert result.exit_code == 0
    assert "signing with the 2048-bit RSA key" in result.stderr


def test_the_command_level_loglevel_wins(run_cli, fixed_now) -> None:
    result = run_cli("--loglevel", "verbose", "create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s",
                     "--cert-privatekey-file", KEY, "--loglevel", "error")
    assert result.exit_code == 0 and result.stderr == ""


def test_the_groups_claim_note_is_verbose_only(run_cli, fixed_now) -> None:
    args = ["create-qseow", "--userdir", "D", "--userid", "u", "--audience", "a", "--expires", "1h",
            "--groups", "g", "--cert-privatekey-file", KEY]
    assert run_cli(*args).stderr == ""
    assert "--groups-claim group" in run_cli(*args, "--loglevel", "verbose").stderr


# --- the environment --------------------------------------------------------------------------------


def test_version_names_python_and_the_libraries(run_cli) -> None:
    result = run_cli("--version")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and len(lines) == 2
    assert lines[0] == f"qs-jwt {qs_jwt.__version__}"
    assert lines[1].startswith("Python 3.") and "cryptography " in lines[1] and "PyJWT " in lines[1]


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "qs_jwt", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False, **kwargs)


def test_closed_stdout_is_one_line_and_exit_1() -> None:
    argv = ["create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-privatekey-file", KEY]
    result = subprocess.run(
        [sys.executable, "-c", "import os, sys; os.close(1); sys.argv[0] = 'qs-jwt';"
         "from qs_jwt.cli import main; sys.exit(main(sys.argv[1:]))", *argv],
        capture_output=False, stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": SRC}, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "cannot write the output" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_print_after_cert_create_says_the_files_were_written(tmp_path) -> None:
    prefix = str(tmp_path) + "/"
    argv = ["create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-create", "--cert-file-prefix",
            prefix, "--cert-create-expires-days", "30", "--cert-create-key-size", "2048"]
    result = subprocess.run(
        [sys.executable, "-c", "import os, sys; os.close(1); from qs_jwt.cli import main; sys.exit(main(sys.argv[1:]))",
         *argv], stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": SRC}, timeout=120, check=False,
    )
    assert result.returncode == 1
    assert "cannot write the output" in result.stderr
    assert f"the files were written: {prefix}privatekey.pem" in result.stderr
    assert (tmp_path / "privatekey.pem").is_file()


# --- standard input: read by the command line, never by the library --------------------------------


def test_cert_show_reads_stdin(run_cli) -> None:
    result = run_cli("cert", "show", "-", stdin=key_bytes("rsa2048_cert.pem"))
    assert result.exit_code == 0 and "Kind: certificate" in result.stdout


@pytest.mark.parametrize(("stdin", "message"), [(b"", "standard input is empty"),
                                                (b"A" * (1024 * 1024 + 10), "more than 1024 KiB")])
def test_bad_stdin_is_a_clean_error(run_cli, stdin, message) -> None:
    result = run_cli("cert", "show", "-", stdin=stdin)
    assert result.exit_code == 1 and message in result.stderr


def test_closed_stdin_is_a_usage_error(run_cli, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    from qs_jwt.cli import main

    assert main(["cert", "show", "-"]) == 2


def test_version_with_stdout_closed_is_one_line(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-c", "import os, sys; os.close(1); from qs_jwt.cli import main; "
                             "sys.exit(main(['--version']))"], stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": SRC}, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_loglevel_between_cert_and_its_subcommand(run_cli) -> None:
    result = run_cli("cert", "--loglevel", "verbose", "show", CERT)
    assert result.exit_code == 0 and "Kind: certificate" in result.stdout


@pytest.mark.parametrize("stray", ["-Secret9xYz", "-abcdefgh", "--Secret9xYzAbCdEfGhIjKl1234"])
def test_a_stray_dash_value_is_not_echoed_as_an_option(run_cli, stray) -> None:
    result = run_cli("decode", "--jwt", TOKEN, stray)
    assert result.exit_code == 2 and stray not in result.stderr


def test_an_empty_groups_claim_is_refused(run_cli) -> None:
    result = run_cli("create-qseow", "--userdir", "D", "--userid", "u", "--audience", "a", "--expires", "1h",
                     "--groups-claim", "", "--cert-privatekey-file", KEY)
    assert result.exit_code == 2 and "--groups-claim" in result.stderr


def test_a_long_value_is_not_echoed_as_a_path(run_cli) -> None:
    result = run_cli("decode", "--jwt-file", "eyJ" * 44000)
    assert result.exit_code == 1 and len(result.stderr) < 300


def test_an_empty_password_pfx_with_an_empty_passphrase_file(run_cli, tmp_path, fixed_now) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run_cli("create-qscloud", "--cert-privatekey-file", key_path("rsa2048_nopass.p12"),
                     "--cert-privatekey-passphrase-file", str(empty), "--issuer", "i", "--keyid", "k", "--sub", "s")
    assert result.exit_code == 0, result.stderr
    refused = run_cli("cert", "create", "--cert-file-prefix", f"{tmp_path}/", "--days", "1", "--passphrase-file",
                      str(empty))
    assert refused.exit_code == 1 and "empty passphrase cannot protect a new key" in refused.stderr


def test_a_pfx_needing_its_password_names_the_option(run_cli, fixed_now) -> None:
    result = run_cli("decode", "--jwt", TOKEN, "--cert-publickey-file", key_path("rsa2048.p12"))
    assert result.exit_code == 1 and "--passphrase-file" in result.stderr
