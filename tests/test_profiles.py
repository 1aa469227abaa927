"""Option values from the environment (QS_JWT_<OPTION>) and from named profiles of the TOML config file.

The rules (README, "Environment variables" and "Profiles"): the command line wins over $QS_JWT_<OPTION>, which
wins over the profile (``--profile NAME`` before or after the command, else $QS_JWT_PROFILE), which wins over the
default. Keys are long option names without ``--`` (``-`` or ``_``); a repeating option takes a list, a flag
true/false; relative paths are taken from the profile file's folder; an unknown key is an error naming the key and
the file; a key of another command is ignored; a bad value is a usage error saying where the values came from;
secrets are never shown, and a secret written in the profile (or a profile others can read holding one) warns.

Tokens are minted with ``create-qscloud --output json`` and their header and payload read back; nothing listens
on port 9 of 127.0.0.1, so the qscloud commands fail fast on the connection (exit 1) once the credentials pass.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import KEYS
from qs_jwt.cli import _profiles
from qs_jwt.redact import secret_kind

KEY = KEYS / "rsa2048_pkcs8.pem"
TENANT = "https://127.0.0.1:9"
#: fail fast: one attempt, short deadline
FAST = ("--retries", "1", "--timeout", "5")
#: an API key written inline in a profile: plain text, so that only "never printed" (not redaction) hides it
INLINE_SECRET = "plain-profile-api-key-value-7f3a"

BASE = """\
[profiles.dev]
issuer = "dev-app"
keyid = "dev-kid"
cert-privatekey-file = "key.pem"

[profiles.prod]
issuer = "prod-app"
keyid = "prod-kid"
cert-privatekey-file = "key.pem"
"""

posix_only = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


#: token-shaped text (header.payload.signature): never shown, whatever key holds it
FAKE_TOKEN = ".".join((_b64(b'{"alg":"RS256","typ":"JWT","kid":"k"}'),
                       _b64(b'{"iss":"i","sub":"someone","aud":"qlik.api/login/jwt-session","exp":1800000300}'),
                       _b64(bytes(range(7, 256)))))


def _private(path: Path) -> Path:
    if os.name != "nt":
        path.chmod(0o600)
    return path


def _secret_file(path: Path, text: str) -> Path:
    """A file holding a secret, as the tool expects it: mode 0600 on POSIX."""
    path.write_text(text, encoding="utf-8")
    return _private(path)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write the profile file tmp_path/config.toml ($QS_JWT_CONFIG) beside a copy of the test key, key.pem."""
    _private(Path(shutil.copyfile(KEY, tmp_path / "key.pem")))
    path = tmp_path / "config.toml"
    monkeypatch.setenv("QS_JWT_CONFIG", str(path))

    def write(text: str = BASE, mode: int = 0o600) -> Path:
        path.write_text(text, encoding="utf-8")
        if os.name != "nt":
            path.chmod(mode)
        return path

    return write


def mint(run_cli, *args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[no-untyped-def]
    """``create-qscloud --sub alice --output json ARGS``: the JSON answer (header, payload, warnings)."""
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", *args, env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# --- config_path ----------------------------------------------------------------------------------------


def test_config_path_is_qs_jwt_config_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QS_JWT_CONFIG", str(tmp_path / "mine.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert _profiles.config_path() == str(tmp_path / "mine.toml")


def test_config_path_posix_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with monkeypatch.context() as m:
        m.setattr(_profiles.os, "name", "posix")
        with_xdg = _profiles.config_path()
        m.delenv("XDG_CONFIG_HOME")
        without = _profiles.config_path()
        m.setenv("XDG_CONFIG_HOME", "")
        empty = _profiles.config_path()
    assert with_xdg == os.path.join(str(tmp_path / "xdg"), "qs-jwt", "config.toml")
    home = os.path.expanduser("~")  # $HOME as patched (on POSIX)
    assert without == os.path.join(home, ".config", "qs-jwt", "config.toml")
    assert empty == without


def test_config_path_windows_appdata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # not read on Windows
    with monkeypatch.context() as m:
        m.setattr(_profiles.os, "name", "nt")
        with_appdata = _profiles.config_path()
        m.delenv("APPDATA")
        without = _profiles.config_path()
    assert with_appdata == os.path.join(str(tmp_path / "Roaming"), "qs-jwt", "config.toml")
    assert without == os.path.join(os.path.expanduser("~"), "AppData", "Roaming", "qs-jwt", "config.toml")


# --- the values of a profile, and precedence --------------------------------------------------------------


def test_profile_values_are_used(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    token = mint(run_cli, "--profile", "dev")
    assert token["payload"]["iss"] == "dev-app"
    assert token["header"]["kid"] == "dev-kid"
    assert token["payload"]["sub"] == "alice"


def test_environment_beats_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    token = mint(run_cli, "--profile", "dev", env={"QS_JWT_ISSUER": "env-app"})
    assert token["payload"]["iss"] == "env-app"
    assert token["header"]["kid"] == "dev-kid"  # what the environment does not give still comes from the profile


def test_command_line_beats_environment_and_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    token = mint(run_cli, "--profile", "dev", "--issuer", "cli-app", "--keyid=cli-kid",
                 env={"QS_JWT_ISSUER": "env-app", "QS_JWT_KEYID": "env-kid"})
    assert token["payload"]["iss"] == "cli-app"
    assert token["header"]["kid"] == "cli-kid"


def test_environment_alone_without_profile(run_cli) -> None:  # type: ignore[no-untyped-def]
    token = mint(run_cli, env={"QS_JWT_ISSUER": "env-app", "QS_JWT_KEYID": "env-kid",
                               "QS_JWT_CERT_PRIVATEKEY_FILE": str(KEY)})
    assert (token["payload"]["iss"], token["header"]["kid"]) == ("env-app", "env-kid")


def test_profile_before_the_command(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("--profile", "prod", "create-qscloud", "--sub", "alice", "--output", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["payload"]["iss"] == "prod-app"


def test_profile_after_the_command_with_equals(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    assert mint(run_cli, "--profile=prod")["header"]["kid"] == "prod-kid"


def test_qs_jwt_profile_picks_the_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    assert mint(run_cli, env={"QS_JWT_PROFILE": "prod"})["payload"]["iss"] == "prod-app"


def test_profile_option_beats_qs_jwt_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    assert mint(run_cli, "--profile", "dev", env={"QS_JWT_PROFILE": "prod"})["payload"]["iss"] == "dev-app"


def test_underscore_spelled_keys(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config('[profiles.u]\nissuer = "u-app"\nkeyid = "u-kid"\ncert_privatekey_file = "key.pem"\n'
           'allow_long_lifetime = true\nexpires = "2h"\n')
    token = mint(run_cli, "--profile", "u")
    assert token["payload"]["iss"] == "u-app"
    assert token["payload"]["exp"] - token["payload"]["iat"] == 7200


def test_key_of_another_command_is_ignored(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'server = "https://qse.example.com/jwt"\ntenant = "tenant.eu.qlikcloud.com"\n'
                  'api-key-file = "apikey.txt"\nuserdir = "CORP"\n')
    token = mint(run_cli, "--profile", "prod")
    assert token["payload"]["iss"] == "prod-app"


# --- lists, flags and bad values --------------------------------------------------------------------------


def test_list_for_a_repeating_option(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'groups = ["Sales", "Team A"]\n')
    assert mint(run_cli, "--profile", "prod")["payload"]["groups"] == ["Sales", "Team A"]


def test_typed_repeating_option_replaces_the_profile_list(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'groups = ["Sales", "Team A"]\n')
    assert mint(run_cli, "--profile", "prod", "--groups", "Ops")["payload"]["groups"] == ["Ops"]


def test_json_list_in_the_environment(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'groups = ["Profile group"]\n')
    token = mint(run_cli, "--profile", "prod", env={"QS_JWT_GROUPS": '["Sales", "Team A"]'})
    assert token["payload"]["groups"] == ["Sales", "Team A"]


def test_single_value_in_the_environment_for_a_repeating_option(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    assert mint(run_cli, "--profile", "dev", env={"QS_JWT_GROUPS": "Sales"})["payload"]["groups"] == ["Sales"]


def test_flag_true_in_a_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'allow-long-lifetime = true\nexpires = "2h"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr
    token = json.loads(r.stdout)
    assert token["payload"]["exp"] - token["payload"]["iat"] == 7200
    assert token["warnings"]
    assert "warning" in r.stderr and "3600" in r.stderr


def test_flag_false_in_a_profile_leaves_the_default(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'allow-long-lifetime = false\nexpires = "2h"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod")
    assert r.exit_code == 2
    assert "--expires" in r.stderr


def test_flag_yes_in_the_environment(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'expires = "2h"\n')
    token = mint(run_cli, "--profile", "prod", env={"QS_JWT_ALLOW_LONG_LIFETIME": "yes"})
    assert token["payload"]["exp"] - token["payload"]["iat"] == 7200
    assert token["warnings"]


def test_flag_bad_value_in_the_environment(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'expires = "2h"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod", env={"QS_JWT_ALLOW_LONG_LIFETIME": "maybe"})
    assert r.exit_code == 2
    assert "QS_JWT_ALLOW_LONG_LIFETIME" in r.stderr and "--allow-long-lifetime" in r.stderr
    assert "Traceback" not in r.stderr


def test_boolean_for_a_true_false_option(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    """--useremail-verified takes true|false: a TOML boolean is that value (as for --cert-create)."""
    config(BASE + 'useremail = "alice@example.com"\nuseremail-verified = true\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["payload"]["email_verified"] is True


def test_bad_value_from_a_profile_names_its_source(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'expires = "2x"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "--expires" in r.stderr
    lines = [line for line in r.stderr.splitlines() if "values given by the environment or a profile" in line]
    assert len(lines) == 1
    assert "--expires from the profile 'prod'" in lines[0]
    assert "--issuer from the profile 'prod'" in lines[0]
    assert "Traceback" not in r.stderr


def test_bad_value_from_the_environment_names_its_source(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "dev", env={"QS_JWT_EXPIRES": "2x"})
    assert r.exit_code == 2
    assert "--expires from $QS_JWT_EXPIRES" in r.stderr
    assert "--keyid from the profile 'dev'" in r.stderr


def test_list_for_an_option_that_does_not_repeat(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE.replace('issuer = "prod-app"', 'issuer = ["a", "b"]'))
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod")
    assert r.exit_code == 2
    assert "--issuer" in r.stderr and "config.toml" in r.stderr


def test_no_values_line_without_injected_values(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("create-qscloud", "--sub", "alice", "--issuer", "i", "--keyid", "k", "--cert-privatekey-file",
                str(KEY), "--expires", "2x")
    assert r.exit_code == 2
    assert "values given by the environment or a profile" not in r.stderr


# --- relative paths --------------------------------------------------------------------------------------


def test_relative_key_path_from_the_config_folder(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) \
        -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "cfg"
    (folder / "keys").mkdir(parents=True)
    _private(Path(shutil.copyfile(KEY, folder / "keys" / "signing.pem")))
    config = folder / "config.toml"
    config.write_text('[profiles.rel]\nissuer = "rel-app"\nkeyid = "rel-kid"\n'
                      'cert-privatekey-file = "keys/signing.pem"\n', encoding="utf-8")
    _private(config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("QS_JWT_CONFIG", str(config))
    token = mint(run_cli, "--profile", "rel")
    assert token["header"]["kid"] == "rel-kid"


def test_relative_path_in_the_environment_is_from_the_working_folder(run_cli, config, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config('[profiles.p]\nissuer = "i"\nkeyid = "k"\n')
    work = tmp_path / "work"
    work.mkdir()
    _private(Path(shutil.copyfile(KEY, work / "here.pem")))
    monkeypatch.chdir(work)
    assert mint(run_cli, "--profile", "p", env={"QS_JWT_CERT_PRIVATEKEY_FILE": "here.pem"})["payload"]["iss"] == "i"


@pytest.mark.parametrize("key", ["cert-file-prefix", "prefix"])
def test_relative_cert_file_prefix_from_the_config_folder(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          key: str) -> None:
    """--cert-file-prefix (alias --prefix) is a path: relative, it is taken from the profile file's folder."""
    folder = tmp_path / "cfg"
    (folder / "out").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text(f'[profiles.c]\n{key} = "out/"\nkey-size = 2048\ndays = 1\n', encoding="utf-8")
    _private(config)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("QS_JWT_CONFIG", str(config))
    r = run_cli("cert", "create", "--profile", "c")
    assert r.exit_code == 0, r.stderr
    assert (folder / "out" / "privatekey.pem").is_file()
    assert (folder / "out" / "publickey.cer").is_file()
    assert not list(work.iterdir())


def test_resolved_cert_file_prefix_joins_with_one_separator(run_cli, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The prefix "out/" taken from the profile's folder is FOLDER/out/, and the files FOLDER/out/NAME."""
    folder = tmp_path / "cfg"
    (folder / "out").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text('[profiles.c]\ncert-file-prefix = "out/"\nkey-size = 2048\ndays = 1\n', encoding="utf-8")
    _private(config)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QS_JWT_CONFIG", str(config))
    r = run_cli("cert", "create", "--profile", "c", "--output", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["privateKey"] == os.path.join(str(folder), "out", "privatekey.pem")


# --- errors of the profile file and of --profile ----------------------------------------------------------


def test_unknown_profile_lists_the_profiles(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "staging")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "'staging'" in r.stderr
    assert "dev, prod" in r.stderr


def test_unknown_profile_from_qs_jwt_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("create-qscloud", "--sub", "alice", env={"QS_JWT_PROFILE": "staging"})
    assert r.exit_code == 2
    assert "'staging'" in r.stderr and "dev, prod" in r.stderr


def test_unknown_key_names_the_key_and_the_file(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    path = config(BASE + 'isuser = "typo"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod")
    assert r.exit_code == 2
    assert "isuser" in r.stderr
    assert str(path) in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_key_in_another_profile_is_not_read(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + '\n[profiles.broken]\nisuser = "typo"\n')
    assert mint(run_cli, "--profile", "dev")["payload"]["iss"] == "dev-app"


@pytest.mark.parametrize("key", ["profile", "help", "version"])
def test_keys_that_choose_what_runs_are_refused(run_cli, config, key: str) -> None:  # type: ignore[no-untyped-def]
    config(BASE + f'{key} = "x"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod")
    assert r.exit_code == 2
    assert key in r.stderr


def test_invalid_toml_is_a_clean_usage_error(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    path = config('[profiles.dev\nissuer = "x"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "dev")
    assert r.exit_code == 2
    assert "not valid TOML" in r.stderr
    assert str(path) in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_other_top_level_tables_are_refused(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + '\n[settings]\nissuer = "x"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "dev")
    assert r.exit_code == 2
    assert "settings" in r.stderr


def test_missing_config_file_with_profile(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    monkeypatch.setenv("QS_JWT_CONFIG", str(missing))
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "dev")
    assert r.exit_code == 2
    assert "no profile file" in r.stderr and str(missing) in r.stderr


def test_no_config_file_needed_without_a_profile(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QS_JWT_CONFIG", str(tmp_path / "nowhere.toml"))
    token = mint(run_cli, "--issuer", "i", "--keyid", "k", "--cert-privatekey-file", str(KEY))
    assert token["payload"]["iss"] == "i"


@pytest.mark.parametrize("argv", [
    ("create-qscloud", "--sub", "alice", "--profile"),
    ("create-qscloud", "--profile", "--sub", "alice"),
    ("--profile",),
])
def test_profile_without_a_name(run_cli, config, argv: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli(*argv)
    assert r.exit_code == 2
    assert "--profile" in r.stderr
    assert "Traceback" not in r.stderr


def test_profile_with_an_empty_name(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("create-qscloud", "--sub", "alice", "--profile=")
    assert r.exit_code == 2
    assert "--profile" in r.stderr and "empty" in r.stderr


# --- profile list and profile show -----------------------------------------------------------------------


def test_profile_list_text(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + '\n[profiles.alpha]\nissuer = "a"\n')
    r = run_cli("profile", "list")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.split() == ["alpha", "dev", "prod"]


def test_profile_list_json(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    path = config()
    r = run_cli("profile", "list", "--output", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"file": str(path), "profiles": ["dev", "prod"]}


def test_profile_list_without_a_file(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QS_JWT_CONFIG", str(tmp_path / "none.toml"))
    r = run_cli("profile", "list")
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "no profile file" in r.stderr


def test_profile_show_text(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'groups = ["Sales", "Team A"]\napi-key-file = "apikey.txt"\n')
    r = run_cli("profile", "show", "prod")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "issuer = prod-app" in lines
    assert "keyid = prod-kid" in lines
    assert "cert-privatekey-file = key.pem" in lines  # a file holding a secret: shown by its path
    assert "api-key-file = apikey.txt" in lines
    assert any(line.startswith("groups = ") and "Team A" in line for line in lines)
    assert "warning" not in r.stderr


def test_profile_show_hides_an_inline_secret(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + f'api-key = "{INLINE_SECRET}"\n')
    r = run_cli("profile", "show", "prod")
    assert r.exit_code == 0, r.stderr
    assert "api-key = (a secret: not shown)" in r.stdout.splitlines()
    assert INLINE_SECRET not in r.stdout + r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert any("api-key" in line for line in warnings)


def test_profile_show_json_hides_an_inline_secret(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    path = config(BASE + f'api-key = "{INLINE_SECRET}"\n')
    r = run_cli("profile", "show", "prod", "--output", "json")
    assert r.exit_code == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["file"] == str(path) and shown["profile"] == "prod"
    assert shown["options"]["api-key"] == "(a secret: not shown)"
    assert shown["options"]["issuer"] == "prod-app"
    assert INLINE_SECRET not in r.stdout + r.stderr


def test_profile_show_hides_a_token_under_any_key(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    assert secret_kind(FAKE_TOKEN) == "a token"
    config(BASE + f'audience = "{FAKE_TOKEN}"\n')
    r = run_cli("profile", "show", "prod")
    assert r.exit_code == 0, r.stderr
    assert "audience = (a secret: not shown)" in r.stdout.splitlines()
    assert FAKE_TOKEN not in r.stdout + r.stderr
    assert any("warning" in line and "audience" in line for line in r.stderr.splitlines())


def test_profile_show_hides_a_token_in_a_list(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    """A list is a value too: a token in it is never shown (and warns, as a secret written in the profile)."""
    config(BASE + f'groups = ["Sales", "{FAKE_TOKEN}"]\n')
    r = run_cli("profile", "show", "prod", "--output", "json")
    assert r.exit_code == 0, r.stderr
    assert FAKE_TOKEN not in r.stdout + r.stderr
    assert any("warning" in line and "groups" in line for line in r.stderr.splitlines())


def test_profile_show_unknown_profile(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("profile", "show", "staging")
    assert r.exit_code == 2
    assert "'staging'" in r.stderr and "dev, prod" in r.stderr


def test_profile_show_warns_about_an_unknown_key(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + 'isuser = "typo"\n')
    r = run_cli("profile", "show", "prod")
    assert r.exit_code == 0, r.stderr
    assert any("warning" in line and "isuser" in line for line in r.stderr.splitlines())


def test_profile_without_subcommand(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config()
    r = run_cli("profile")
    assert r.exit_code == 2
    assert "subcommand" in r.stderr


# --- warnings about secrets in the profile file ----------------------------------------------------------


def test_inline_secret_warns_when_the_profile_is_used(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + f'api-key = "{INLINE_SECRET}"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr  # api-key is not an option of create-qscloud: ignored, but warned about
    assert any("warning" in line and "api-key" in line for line in r.stderr.splitlines())
    assert INLINE_SECRET not in r.stdout + r.stderr


@posix_only
def test_readable_by_others_with_an_inline_secret_warns(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    path = config(BASE + f'api-key = "{INLINE_SECRET}"\n', mode=0o644)
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr
    readable = [line for line in r.stderr.splitlines() if "readable by other users" in line]
    assert len(readable) == 1
    assert str(path) in readable[0] and "chmod 600" in readable[0]
    shown = run_cli("profile", "show", "prod")
    assert any("readable by other users" in line for line in shown.stderr.splitlines())
    assert INLINE_SECRET not in r.stderr + shown.stdout + shown.stderr


@posix_only
def test_private_file_with_an_inline_secret_warns_only_about_the_secret(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + f'api-key = "{INLINE_SECRET}"\n', mode=0o600)
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr
    assert "readable by other users" not in r.stderr
    assert "api-key" in r.stderr


@posix_only
def test_readable_by_others_without_a_secret_is_quiet(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(mode=0o644)
    r = run_cli("create-qscloud", "--sub", "alice", "--output", "json", "--profile", "prod")
    assert r.exit_code == 0, r.stderr
    assert "warning" not in r.stderr


# --- credentials: a typed one wins over a conflicting one from a profile ----------------------------------


def _user_token(run_cli, config) -> str:  # type: ignore[no-untyped-def]
    config()
    return mint(run_cli, "--profile", "dev")["token"]


def test_typed_jwt_wins_over_a_profile_api_key_file(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = _user_token(run_cli, config)
    _secret_file(tmp_path / "apikey.txt", "profile-api-key-file-content\n")
    config(f'[profiles.cloud]\ntenant = "{TENANT}"\napi-key-file = "apikey.txt"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "cloud", "--jwt", token, *FAST)
    assert r.exit_code != 2, r.stderr
    assert r.exit_code == 1, r.stderr  # the login to port 9 fails: the credentials passed
    assert "not both" not in r.stderr
    assert "/login/jwt-session" in r.stderr  # it logged in with the JWT, not called with the API key


def test_typed_api_key_file_wins_over_a_profile_session_file(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _secret_file(tmp_path / "session.json", "{}")
    key_file = _secret_file(tmp_path / "typed-key.txt", "typed-api-key-content\n")
    config(f'[profiles.sess]\ntenant = "{TENANT}"\nsession-file = "session.json"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "sess", "--api-key-file", str(key_file), *FAST)
    assert r.exit_code != 2, r.stderr
    assert r.exit_code == 1, r.stderr
    assert "not both" not in r.stderr
    assert "GET https://127.0.0.1:9/x" in r.stderr


def test_typed_api_key_file_wins_over_a_profile_jwt_file(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = _user_token(run_cli, config)
    _secret_file(tmp_path / "token.txt", token)
    key_file = _secret_file(tmp_path / "typed-key.txt", "typed-api-key-content\n")
    config(f'[profiles.j]\ntenant = "{TENANT}"\njwt-file = "token.txt"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "j", "--api-key-file", str(key_file), *FAST)
    assert r.exit_code == 1, r.stderr
    assert "not both" not in r.stderr
    assert "/login/jwt-session" not in r.stderr


def test_typed_jwt_wins_over_profile_minting_settings(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    """issuer, keyid and a key in a profile are settings, not a second credential."""
    token = _user_token(run_cli, config)
    config(BASE + f'tenant = "{TENANT}"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "prod", "--jwt", token, *FAST)
    assert r.exit_code == 1, r.stderr
    assert "not both" not in r.stderr


def test_typed_jwt_wins_over_a_profile_sub(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    """A profile's sub (a user to mint a token for) is a credential: a typed --jwt wins over it."""
    token = _user_token(run_cli, config)
    config(BASE + f'tenant = "{TENANT}"\nsub = "service-user"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "prod", "--jwt", token, *FAST)
    assert r.exit_code == 1, r.stderr
    assert "not both" not in r.stderr


def test_typed_sub_wins_over_a_profile_jwt_file(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token = _user_token(run_cli, config)
    _secret_file(tmp_path / "token.txt", token)
    config(BASE + f'tenant = "{TENANT}"\njwt-file = "token.txt"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "prod", "--sub", "bob", *FAST)
    assert r.exit_code == 1, r.stderr
    assert "not both" not in r.stderr


def test_two_conflicting_credentials_from_a_profile_are_a_usage_error(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _secret_file(tmp_path / "session.json", "{}")
    _secret_file(tmp_path / "apikey.txt", "profile-api-key-file-content\n")
    config(f'[profiles.both]\ntenant = "{TENANT}"\nsession-file = "session.json"\napi-key-file = "apikey.txt"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "both", *FAST)
    assert r.exit_code == 2
    assert "not both" in r.stderr
    assert "values given by the environment or a profile" in r.stderr
    assert "--session-file from the profile 'both'" in r.stderr
    assert "--api-key-file from the profile 'both'" in r.stderr


# --- no secret from a profile in any message ------------------------------------------------------------


def test_profile_api_key_never_in_stderr_at_debug(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(f'[profiles.k]\ntenant = "{TENANT}"\napi-key = "{INLINE_SECRET}"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "k", "--loglevel", "debug", *FAST)
    assert r.exit_code == 1, r.stderr  # the key was used: the call to port 9 failed
    assert "debug" in r.stderr
    assert INLINE_SECRET not in r.stdout + r.stderr


def test_profile_api_key_never_in_a_usage_error_at_debug(run_cli, config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _secret_file(tmp_path / "apikey.txt", "other\n")
    config(f'[profiles.k]\ntenant = "{TENANT}"\napi-key = "{INLINE_SECRET}"\napi-key-file = "apikey.txt"\n'
           'retries = "many"\n')
    r = run_cli("qscloud", "call", "GET", "/x", "--profile", "k", "--loglevel", "debug")
    assert r.exit_code == 2
    assert "values given by the environment or a profile" in r.stderr
    assert INLINE_SECRET not in r.stdout + r.stderr


def test_profile_api_key_never_in_stderr_of_create_at_debug(run_cli, config) -> None:  # type: ignore[no-untyped-def]
    config(BASE + f'api-key = "{INLINE_SECRET}"\n')
    r = run_cli("create-qscloud", "--sub", "alice", "--profile", "prod", "--loglevel", "debug")
    assert r.exit_code == 0, r.stderr
    assert INLINE_SECRET not in r.stdout + r.stderr
