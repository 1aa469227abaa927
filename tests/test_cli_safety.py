"""Secrets never printed, failures without tracebacks, interrupted writes leave nothing, cheap start-up."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qs_jwt
from conftest import FIXED_NOW, PASSPHRASE, ROOT, key_bytes, key_path

SRC = str(ROOT / "src")


_PUBLIC_B64 = "".join(key_bytes("rsa2048_public.pem").decode().splitlines()[1:-1])


def _body_lines(pem: bytes) -> list[str]:
    """Base64 lines of a private key PEM that are secret (some lines only carry the public modulus)."""
    return [line for line in pem.decode().splitlines()
            if line and not line.startswith("-----") and line not in _PUBLIC_B64]


def test_canary_no_secret_in_any_output(run_cli, tmp_path, fixed_now):
    """Every command at the most verbose level, with a known key and passphrase: neither appears anywhere,
    and a minted token appears only on stdout."""
    enc = key_path("rsa2048_encrypted.pem")
    pw_file = tmp_path / "pw"
    pw_file.write_text(PASSPHRASE)
    secrets = _body_lines(key_bytes("rsa2048_pkcs8.pem")) + _body_lines(key_bytes("rsa2048_encrypted.pem"))
    secrets.append(PASSPHRASE)
    env_key = key_bytes("rsa2048_pkcs1.pem").decode()
    secrets += _body_lines(env_key.encode())
    runs = [
        (["create-qscloud", "--cert-privatekey-file", enc, "--cert-privatekey-passphrase-file", str(pw_file),
          "--keyid", "k", "--issuer", "i", "--sub", "s", "--output", "json"], {}),
        (["create-qseow", "--cert-privatekey-file", enc, "--userdir", "D", "--userid", "u", "--audience", "a",
          "--expires", "1h"], {"QS_JWT_PRIVATE_KEY_PASSPHRASE": PASSPHRASE}),
        (["create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s"], {"QS_JWT_PRIVATE_KEY": env_key}),
        (["create-qscloud", "--cert-privatekey", key_bytes("rsa2048_pkcs8.pem").decode(), "--keyid", "k",
          "--issuer", "i", "--sub", "s"], {}),
        (["create-qscloud", "--cert-privatekey-file", enc, "--keyid", "k", "--issuer", "i", "--sub", "s"],
         {"QS_JWT_PRIVATE_KEY_PASSPHRASE": PASSPHRASE + "-wrong"}),
        (["cert", "show", enc, "--passphrase-file", str(pw_file)], {}),
        (["cert", "check", enc, "--passphrase-file", str(pw_file)], {}),
        (["cert", "jwks", enc], {"QS_JWT_PRIVATE_KEY_PASSPHRASE": PASSPHRASE}),
        (["cert", "show", key_path("rsa2048_pkcs8.pem")], {}),
        (["cert", "create", "--prefix", str(tmp_path) + "/", "--days", "5", "--key-size", "2048",
          "--passphrase-file", str(pw_file)], {}),
    ]
    for argv, env in runs:
        r = run_cli(*argv, "--loglevel", "debug", env=env)
        for secret in secrets:
            assert secret not in r.stdout, (argv, "stdout")
            assert secret not in r.stderr, (argv, "stderr")
        if argv[0].startswith("create") and r.exit_code == 0:
            token = json.loads(r.stdout)["token"] if "--output" in argv else r.stdout.strip()
            assert token.count(".") == 2 and token not in r.stderr
            for part in token.split("."):
                assert part not in r.stderr
        for name in list(env):
            os.environ.pop(name, None)
    created = (tmp_path / "privatekey.pem").read_bytes()
    for line in _body_lines(created):
        assert line not in r.stdout + r.stderr


def test_decode_and_check_never_echo_the_token_to_stderr(run_cli, fixed_now):
    token = qs_jwt.create_qscloud_token(key_bytes("rsa2048_pkcs8.pem"), issuer="i", keyid="k", sub="s",
                                        expires="1m", now=FIXED_NOW - 3600).token
    for argv in (["decode", "--jwt", token, "--cert-publickey-file", key_path("other2048_public.pem")],
                 ["check", "--target", "qscloud", "--jwt", token]):
        r = run_cli(*argv, "--loglevel", "debug")
        assert r.exit_code == 3
        assert token.split(".")[2] not in r.stderr and token not in r.stderr


def _run(*args: str, stdin: bytes | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "qs_jwt", *args], input=stdin, capture_output=True, env=env,
                          cwd=cwd, timeout=60)


@pytest.mark.parametrize(("argv", "code"), [
    (["create-qscloud", "--cert-privatekey-file", "/nonexistent/key.pem", "--keyid", "k", "--issuer", "i",
      "--sub", "s"], 1),
    (["create-qscloud", "--keyid", "k", "--issuer", "i", "--sub", "s", "--expires", "banana"], 2),
    (["decode", "--jwt", "not-a-token"], 1),
    (["check", "--target", "qscloud", "--jwt", "a.b.c"], 1),
    (["cert", "show", "/nonexistent"], 1),
    (["bogus-command"], 2),
    ([], 2),
])
def test_process_exit_codes_without_traceback(argv, code):
    r = _run(*argv)
    assert r.returncode == code
    assert r.stdout == b""
    assert b"Traceback" not in r.stderr
    if argv:
        assert r.stderr.count(b"\n") == 1, r.stderr


def test_version_and_module_entry_point():
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.decode().splitlines()[0] == f"qs-jwt {qs_jwt.__version__}"


def test_closed_pipe_is_quiet(tmp_path):
    token = qs_jwt.Signer(key_bytes("rsa2048_pkcs8.pem")).sign(
        {"alg": "RS256", "typ": "JWT"}, {"sub": "s", "blob": ["x" * 50] * 800})
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC
    proc = subprocess.Popen([sys.executable, "-m", "qs_jwt", "decode", "--jwt-file", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(token.encode())
    proc.stdin.close()
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away, like `| head -c 10`
    err = proc.stderr.read()
    proc.stderr.close()
    proc.wait(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err


HELP_COMMANDS = [[], ["create-qscloud"], ["create-qseow"], ["decode"], ["check"], ["cert"], ["cert", "create"],
                 ["cert", "show"], ["cert", "jwks"], ["cert", "check"], ["qscloud"], ["qscloud", "login"],
                 ["qscloud", "call"], ["qscloud", "idp"], ["qscloud", "idp", "create"], ["qscloud", "idp", "list"],
                 ["qscloud", "idp", "get"], ["qscloud", "idp", "delete"], ["qscloud", "idp", "check"],
                 ["qscloud", "multicloud"], ["qscloud", "multicloud", "decode"], ["qscloud", "multicloud", "create"]]


@pytest.mark.parametrize("argv", HELP_COMMANDS, ids=lambda a: " ".join(a) or "top")
def test_help_on_every_command(run_cli, argv):
    r = run_cli(*argv, "--help")
    assert r.exit_code == 0 and r.stderr == ""
    assert "usage: qs-jwt" in r.stdout
    if argv and argv != ["cert"]:
        assert "example:" in r.stdout
    if argv != ["cert"]:
        assert "exit codes:" in r.stdout and "3  a token or key failed verification" in r.stdout


def test_help_imports_no_heavy_module():
    code = ("import sys; from qs_jwt.cli import main; rc = main(['--help']); "
            "heavy = [m for m in ('cryptography', 'jwt', 'typing', 'logging', 'pathlib', 'importlib.metadata', "
            "'httpx', 'json') if m in sys.modules]; print(heavy, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0
    assert r.stderr.decode().strip() == "[]"


def test_the_qlik_cloud_module_imports_httpx_only_for_a_client():
    code = ("import sys, qs_jwt; import qs_jwt.qscloud; qs_jwt.QlikCloudClient; before = 'httpx' in sys.modules; "
            "qs_jwt.QlikCloudClient('tenant.example.com').close(); print(before, 'httpx' in sys.modules, "
            "file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stderr.decode().strip() == "False True"


def test_minting_does_not_import_pyjwt():
    code = ("import sys; from qs_jwt.cli import main; "
            f"rc = main(['create-qscloud', '--cert-privatekey-file', {key_path('rsa2048_pkcs8.pem')!r}, "
            "'--keyid', 'k', '--issuer', 'i', '--sub', 's']); print('jwt' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stderr.decode().strip() == "False"


# --- interrupted and failing writes ------------------------------------------------------------------


def _cert_create(run_cli, prefix: str):
    return run_cli("cert", "create", "--prefix", prefix, "--days", "5", "--key-size", "2048")


def test_interrupt_mid_write_leaves_nothing(run_cli, tmp_path, monkeypatch):
    import qs_jwt._files

    calls = {"n": 0}
    real_fsync = os.fsync

    def flaky_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # during the second file
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(qs_jwt._files.os, "fsync", flaky_fsync)
    r = _cert_create(run_cli, str(tmp_path) + "/")
    assert r.exit_code == 130 and "interrupted" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_disk_full_leaves_nothing(run_cli, tmp_path, monkeypatch):
    import qs_jwt._files

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            self.fh = real_fdopen(fd, mode)

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def fileno(self) -> int:
            return self.fh.fileno()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(qs_jwt._files.os, "fdopen", Full)
    r = _cert_create(run_cli, str(tmp_path) + "/")
    assert r.exit_code == 1 and "No space left on device" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder(run_cli, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        r = _cert_create(run_cli, str(folder) + "/")
        assert r.exit_code == 1 and "not writable" in r.stderr
    finally:
        folder.chmod(0o700)


def test_prefix_naming_a_directory(run_cli, tmp_path):
    (tmp_path / "privatekey.pem").mkdir()
    r = _cert_create(run_cli, str(tmp_path) + "/")
    assert r.exit_code == 1 and "is a directory" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["privatekey.pem"]


def test_no_temp_files_left_after_success(run_cli, tmp_path):
    assert _cert_create(run_cli, str(tmp_path) + "/").exit_code == 0
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["privatekey.pem", "publickey.cer", "publickey.pem"]


# --- from the security audit --------------------------------------------------------------------------


def test_a_mistyped_key_option_does_not_echo_the_key(run_cli):
    pem = key_bytes("rsa2048_pkcs8.pem").decode()
    r = run_cli("create-qscloud", "--issuer", "i", "--keyid", "k", "--sub", "s", "--cert-private-key", pem)
    assert r.exit_code == 2 and "--cert-private-key" in r.stderr
    assert "PRIVATE KEY" not in r.stderr and r.stderr.count("\n") == 1
    token = qs_jwt.create_qscloud_token(key_bytes("rsa2048_pkcs8.pem"), issuer="i", keyid="k", sub="s").token
    for argv in (["decode", "--jtw", token], ["decode", token]):
        r = run_cli(*argv)
        assert r.exit_code == 2 and token.split(".")[1] not in r.stderr


def test_escape_sequences_in_arguments_never_reach_the_terminal(run_cli):
    r = run_cli("decode", "\x1b]0;PWNED\x07\x1b[31mRED")
    assert r.exit_code == 2 and "\x1b" not in r.stderr and "\x07" not in r.stderr


def test_json_output_stays_valid_for_any_character(run_cli):
    name = "a\U000e0041b\U0001d173c\u2028d\x1b"
    r = run_cli("create-qscloud", "--cert-privatekey-file", key_path("rsa2048_pkcs8.pem"), "--keyid", "k",
                "--issuer", "i", "--sub", "s", "--username", name, "--output", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["payload"]["name"] == name
    assert "\u2028" not in r.stdout and "\x1b" not in r.stdout
    decoded = run_cli("decode", "--jwt", json.loads(r.stdout)["token"], "--output", "json")
    assert json.loads(decoded.stdout)["payload"]["name"] == name


def test_line_breaks_in_single_values_are_escaped(run_cli, tmp_path):
    r = run_cli("decode", "--jwt-file", str(tmp_path / "nofile\nqs-jwt: signature:  valid"))
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "signature:  valid" not in r.stderr
    assert "--jwt-file: no such file (the value is not a file name" in r.stderr


def test_a_non_utf8_passphrase_is_a_clean_error(run_cli):
    r = run_cli("create-qscloud", "--cert-privatekey-file", key_path("rsa2048_encrypted.pem"), "--issuer", "i",
                "--keyid", "k", "--sub", "s", env={"QS_JWT_PRIVATE_KEY_PASSPHRASE": "\udcff\udcfe"})
    assert r.exit_code == 1 and "wrong passphrase" in r.stderr and "internal error" not in r.stderr


def test_days_with_two_dashes_is_a_usage_error(run_cli, tmp_path):
    r = run_cli("cert", "create", "--prefix", str(tmp_path) + "/", "--days=--5")
    assert r.exit_code == 2 and list(tmp_path.iterdir()) == []
