"""Option values from the environment and from named profiles: the one place that resolves them.

Precedence, for every option of the command that runs: the command line, then ``QS_JWT_<OPTION>`` (the long
option's name in upper case with ``_``: ``QS_JWT_CERT_PRIVATEKEY_FILE``), then the profile named by
``--profile NAME`` or ``$QS_JWT_PROFILE`` (a table ``[profiles.NAME]`` of the TOML file ``$QS_JWT_CONFIG``, else
the user's config folder: ``%APPDATA%\\qs-jwt\\config.toml`` on Windows, ``$XDG_CONFIG_HOME/qs-jwt/config.toml`` or
``~/.config/qs-jwt/config.toml`` elsewhere), then the option's default.

The values found are put on the command line, ahead of what was typed, as ``--option=value``, so that they are
parsed and checked exactly as typed ones (a bad value is a usage error naming the option) and typed ones win.
Standard library only, and tomllib only when a profile is named: this module runs at every start.
"""

from __future__ import annotations

import argparse
import os

from ._common import ENV_PASSPHRASE, ENV_PRIVATE_KEY, UsageError

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ENV_PREFIX = "QS_JWT_"
ENV_CONFIG = "QS_JWT_CONFIG"
ENV_PROFILE = "QS_JWT_PROFILE"
#: variables of the QS_JWT_ family that are not options
NOT_OPTIONS = frozenset({ENV_PRIVATE_KEY, ENV_PASSPHRASE, ENV_CONFIG, ENV_PROFILE, "QS_JWT_SHARED_DIR"})
#: options whose value is the secret itself: in a profile file, a warning; never shown by `profile show`
SECRET_KEYS = frozenset({"cert-privatekey", "jwt", "api-key", "client-secret"})
#: options that name a file holding a secret
SECRET_FILE_KEYS = frozenset({"cert-privatekey-file", "cert-privatekey-passphrase-file", "passphrase-file",
                              "cert-passphrase-file", "api-key-file", "jwt-file", "session-file",
                              "client-secret-file", "new-private-key-file"})
#: options a profile may not set: they choose what runs, not how
NOT_IN_PROFILES = frozenset({"help", "version", "profile"})
_MAX_CONFIG = 1024 * 1024


def config_path() -> str:
    """The profile file: ``$QS_JWT_CONFIG``, else the platform's user config folder."""
    named = os.environ.get(ENV_CONFIG)
    if named:
        return named
    if os.name == "nt":
        base = os.environ.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Roaming")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "qs-jwt", "config.toml")


def split_profile_option(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without ``--profile NAME`` (anywhere before ``--``), and the name (else ``$QS_JWT_PROFILE``)."""
    rest: list[str] = []
    name: str | None = None
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            rest += argv[index:]
            break
        if word == "--profile":
            if index + 1 >= len(argv) or argv[index + 1].startswith("-"):
                raise UsageError("--profile: expected a profile name (qs-jwt profile list lists them)")
            name = argv[index + 1]
            index += 2
            continue
        if word.startswith("--profile="):
            name = word.partition("=")[2]
            index += 1
            continue
        rest.append(word)
        index += 1
    if name is None:
        name = os.environ.get(ENV_PROFILE) or None
    if name is not None and not name.strip():
        raise UsageError("--profile: the name is empty")
    return rest, name


def read_profiles(path: str) -> dict[str, dict[str, Any]]:
    """Every profile of the file: name to {option key: value}. :raises UsageError: an unreadable file."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_CONFIG + 1)
    except FileNotFoundError:
        raise UsageError(f"no profile file at {path} (set ${ENV_CONFIG}, or create it with [profiles.NAME] "
                         "tables)") from None
    except OSError as exc:
        raise UsageError(f"cannot read the profile file {path} ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > _MAX_CONFIG:
        raise UsageError(f"the profile file {path} is larger than 1 MiB")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        where = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else "somewhere"
        raise UsageError(f"the profile file {path} is not valid TOML ({where})") from None
    profiles = data.get("profiles", {})
    unknown = [key for key in data if key != "profiles"]
    if unknown or not isinstance(profiles, dict):
        raise UsageError(f"the profile file {path}: only [profiles.NAME] tables are read; found "
                         f"{', '.join(unknown) or 'profiles that is not a table'}")
    checked: dict[str, dict[str, Any]] = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise UsageError(f"the profile file {path}: profiles.{name} is not a table")
        checked[name] = {str(key).replace("_", "-"): value for key, value in table.items()}
    return checked


def option_keys(parser: argparse.ArgumentParser) -> set[str]:
    """Every long option name (without ``--``) of every command of ``parser``."""
    keys: set[str] = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            keys.update(flag[2:] for flag in action.option_strings if flag.startswith("--"))
    return keys - NOT_IN_PROFILES


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, int]:
    """The parser of the (sub)command ``argv`` runs, and the index just after its last command word."""
    current, end, skip = parser, 0, False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--":
            break
        if word in ("--loglevel",):
            skip = True
            continue
        if word.startswith("-"):
            continue
        sub = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            break
        current, end = sub.choices[word], index + 1
    return current, end


def _given(action: argparse.Action, argv: list[str]) -> bool:
    return any(word == flag or word.startswith(f"{flag}=") for word in argv for flag in action.option_strings)


def _env_name(action: argparse.Action) -> str:
    flag = max((f for f in action.option_strings if f.startswith("--")), key=len)
    return ENV_PREFIX + flag[2:].upper().replace("-", "_")


def _words(action: argparse.Action, value: Any, source: str) -> list[str]:
    """The command-line words that give ``action`` the ``value`` from ``source``."""
    flag = max((f for f in action.option_strings if f.startswith("--")), key=len)
    if action.nargs == 0:  # a flag
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise UsageError(f"{source}: {flag} is a flag: expected true or false")
            value = lowered in ("1", "true", "yes", "on")
        if not isinstance(value, bool):
            raise UsageError(f"{source}: {flag} is a flag: expected true or false")
        return [flag] if value else []
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, str | int | float) for item in values):  # a bool: true/false
        raise UsageError(f"{source}: {flag} expects text (or a list of texts for an option that repeats)")
    repeats = isinstance(action, argparse._AppendAction | argparse._ExtendAction)
    if len(values) > 1 and not repeats:
        raise UsageError(f"{source}: {flag} takes one value, not a list")
    return [f"{flag}={_text(item)}" for item in values]


def _flag(action: argparse.Action) -> str:
    return max((f for f in action.option_strings if f.startswith("--")), key=len)


def _is_path_key(key: str) -> bool:
    """A profile key whose value is a path, taken from the profile file's folder when relative."""
    return key.endswith("-file") or key in ("ca-cert", "cert-file-prefix")


def _resolved(key: str, value: Any, path: str) -> Any:
    if not _is_path_key(key) or not isinstance(value, str) or not value or value == "-":
        return value
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    return os.path.join(os.path.dirname(os.path.abspath(path)), expanded)  # a trailing separator is kept


def _text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def _env_value(action: argparse.Action, raw: str) -> Any:
    if isinstance(action, argparse._AppendAction | argparse._ExtendAction) and raw.lstrip().startswith("["):
        import json

        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return raw


def inject(parser: argparse.ArgumentParser, argv: list[str], profile: str | None,
           full_parser: Callable[[], argparse.ArgumentParser]) -> tuple[list[str], list[str], dict[str, str]]:
    """``argv`` with the values of ``QS_JWT_<OPTION>`` and of the profile for every option of the running
    command that it does not give; warnings about the profile file; and, for every option given so, its
    ``dest`` and where its value came from (a command lets a typed option win over a conflicting one from a
    profile; a usage error names the source). Relative paths in a profile are taken from the profile file's
    folder. :raises UsageError: a bad profile."""
    command, end = _command_parser(parser, argv)
    actions = [a for a in command._actions if any(f.startswith("--") for f in a.option_strings)
               and not set(f[2:] for f in a.option_strings) & NOT_IN_PROFILES
               and not isinstance(a, argparse._HelpAction | argparse._VersionAction)]
    table: dict[str, Any] = {}
    warnings: list[str] = []
    path = ""
    if profile is not None:
        path = config_path()
        profiles = read_profiles(path)
        if profile not in profiles:
            names = ", ".join(sorted(profiles)) or "none"
            raise UsageError(f"--profile: no profile {profile!r} in {path} (the profiles: {names})")
        table = profiles[profile]
        known = option_keys(full_parser())  # a profile may hold the options of every command
        unknown = sorted(set(table) - known)
        if unknown:
            raise UsageError(f"the profile {profile!r} in {path}: unknown key(s) {', '.join(unknown)} (keys are long "
                             "option names without --, e.g. cert-privatekey-file)")
        warnings = profile_warnings(path, profile, table)
    added: list[str] = []
    injected: dict[str, str] = {}
    for action in actions:
        if _given(action, argv):
            continue
        env = _env_name(action)
        raw = os.environ.get(env)
        if raw is not None and env not in NOT_OPTIONS:
            added += _words(action, _env_value(action, raw), f"${env}")
            injected[action.dest] = f"{_flag(action)} from ${env}"
            continue
        for flag in action.option_strings:
            key = flag[2:]
            if key in table:
                value = _resolved(_flag(action)[2:], table[key], path)
                added += _words(action, value, f"the profile {profile!r} ({path}), key {key}")
                injected[action.dest] = f"{_flag(action)} from the profile {profile!r}"
                break
    return [*argv[:end], *added, *argv[end:]], warnings, injected


def profile_warnings(path: str, name: str, table: dict[str, Any]) -> list[str]:
    """A secret written in the file (not a path to one), and a file others can read that holds one."""

    warnings = []
    inline = sorted(key for key, value in table.items() if key in SECRET_KEYS or _looks_secret(value))
    for key in inline:
        hint = f" ({key}-file = \"path\")" if key in SECRET_KEYS else ""
        warnings.append(f"the profile {name!r} in {path} holds a secret in {key}: keep secrets in files{hint} and "
                        "name the files, not the secrets")
    if (inline or any(key in SECRET_FILE_KEYS for key in table)) and os.name != "nt":
        import stat

        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0
        if mode & 0o077 and inline:
            warnings.append(f"{path} (mode {mode:04o}) is readable by other users and holds a secret: run chmod 600 "
                            f"{path}")
    return warnings


def _looks_secret(value: Any) -> bool:
    """A value, or an item of a list value, that reads as a key, token or other secret."""
    from ..redact import secret_kind

    items = value if isinstance(value, list) else [value]
    return any(isinstance(item, str) and secret_kind(item) is not None for item in items)


def shown_profile(table: dict[str, Any]) -> dict[str, Any]:
    """A profile for display: secrets never shown, files holding secrets shown by their path."""
    shown: dict[str, Any] = {}
    for key, value in sorted(table.items()):
        shown[key] = "(a secret: not shown)" if key in SECRET_KEYS or _looks_secret(value) else value
    return shown


# --- qs-jwt profile list|show ------------------------------------------------------------------------------


def profile_list(args: argparse.Namespace, log: Any) -> int:
    from ._common import ExitCode
    from ._io import emit, to_json

    path = config_path()
    if not os.path.exists(path):
        log.info(f"no profile file at {path} (set ${ENV_CONFIG}, or create it)")
        return ExitCode.OK
    profiles = read_profiles(path)
    if args.output == "json":
        emit(to_json({"file": path, "profiles": sorted(profiles)}))
    elif profiles:
        emit("\n".join(sorted(profiles)))
    log.info(f"{len(profiles)} profile(s) in {path}")
    return ExitCode.OK


def profile_show(args: argparse.Namespace, log: Any) -> int:
    from ._common import ExitCode
    from ._io import emit, to_json
    from ._run import safe_text

    path = config_path()
    profiles = read_profiles(path)
    if args.name not in profiles:
        raise UsageError(f"no profile {args.name!r} in {path} (the profiles: {', '.join(sorted(profiles)) or 'none'})")
    table = profiles[args.name]
    from . import build_parser

    unknown = sorted(set(table) - option_keys(build_parser()))
    for warning in profile_warnings(path, args.name, table):
        log.warn(warning)
    if unknown:
        log.warn(f"unknown key(s) {', '.join(unknown)}: a command run with this profile refuses them")
    shown = shown_profile(table)
    if args.output == "json":
        emit(to_json({"file": path, "profile": args.name, "options": shown}))
    else:
        emit("\n".join(f"{key} = {safe_text(repr(value) if not isinstance(value, str) else value)}"
                        for key, value in shown.items()) or "(empty)")
    return ExitCode.OK
