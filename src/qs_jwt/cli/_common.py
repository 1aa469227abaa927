"""What every part of the command line shares: exit codes, the usage error, and the one table that maps
the library's parameter names to the options of each command.

Standard library only: this module is imported at start-up.
"""

from __future__ import annotations

import enum

PROG = "qs-jwt"


class ExitCode(enum.IntEnum):
    """The exit codes of ``qs-jwt``; the help's table is made from this enum."""

    OK = 0
    ERROR = 1
    USAGE = 2
    VERIFY = 3
    API = 4
    INTERRUPTED = 130


_EXIT_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "error: unreadable or unusable key or file, malformed token, file not written",
    ExitCode.USAGE: "usage error: unknown option, missing or bad option value, no signing key",
    ExitCode.VERIFY: "a token or key failed verification or a check",
    ExitCode.API: "the remote Qlik API answered with an error (the commands that call Qlik APIs)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

EXIT_CODES_HELP = "exit codes:\n" + "\n".join(f"  {code.value:<2} {_EXIT_MEANINGS[code]}" for code in ExitCode)

ENV_PRIVATE_KEY = "QS_JWT_PRIVATE_KEY"
ENV_PASSPHRASE = "QS_JWT_PRIVATE_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

ENV_API_KEY = "QLIK_API_KEY"

ENVIRONMENT_HELP = f"""\
environment:
  {"QS_JWT_<OPTION>":<30} the value of --<option> when not given (QS_JWT_ISSUER, QS_JWT_CERT_PRIVATEKEY_FILE)
  {"QS_JWT_PROFILE":<30} the profile to use when no --profile NAME is given
  {"QS_JWT_CONFIG":<30} the profile file (default: ~/.config/qs-jwt/config.toml; %APPDATA% on Windows)
  {ENV_PRIVATE_KEY:<30} PEM private key, used when no key option is given
  {ENV_PASSPHRASE:<30} passphrase of an encrypted private key
  {ENV_API_KEY:<30} Qlik Cloud API key (qscloud commands), used when no --api-key-file is given
  {"QLIK_OAUTH_CLIENT_SECRET":<30} the OAuth client's secret, used with --client-id when no secret option is given"""

LOG_LEVELS = {"error": 0, "warn": 1, "warning": 1, "info": 2, "verbose": 3, "debug": 4}


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2)."""


class OutputError(Exception):
    """The result could not be written to standard output (exit 1)."""


#: the library's parameter names and the option that sets each, for every command
PARAM_FLAGS = {
    "issuer": "--issuer",
    "keyid": "--keyid",
    "expires": "--expires",
    "algorithm": "--algorithm",
    "allow_long_lifetime": "--allow-long-lifetime",
    "sub": "--sub",
    "name": "--username",
    "email": "--useremail",
    "email_verified": "--useremail-verified",
    "groups": "--groups",
    "extra_claims": "--claim",
    "audience": "--audience",
    "userid_claim": "--userid-claim",
    "userdir_claim": "--userdir-claim",
    "groups_claim": "--groups-claim",
    "user_id": "--userid",
    "user_directory": "--userdir",
    "days": "--cert-create-expires-days",
    "key_size": "--cert-create-key-size",
    "common_name": "--cert-create-cn",
    "prefix": "--cert-file-prefix",
    "passphrase": "--cert-privatekey-passphrase-file",
    "leeway": "--leeway",
    "algorithms": "--algorithms",
    "kid": "--kid",
    "alg": "--alg",
    "now": "the system clock",
    "url": "--server",
    "timeout": "--timeout",
    "retries": "--retries",
    "ca_cert": "--ca-cert",
    "jwt": "--jwt",
}

#: where a command names a parameter's option differently
COMMAND_PARAM_FLAGS = {
    "decode": {"audience": "--expected-audience", "issuer": "--expected-issuer", "passphrase": "--passphrase-file"},
    "check": {"passphrase": "--passphrase-file"},
    "cert": {"passphrase": "--passphrase-file"},
    "qseow virtual-proxy": {"prefix": "--prefix", "passphrase": "--cert-passphrase-file",
                            "description": "--description", "session_cookie_header": "--session-cookie-header",
                            "attributes": "--attribute", "load_balancing_nodes": "--load-balancing-node",
                            "host_allow_list": "--host-allow-list"},
    "qseow qlik-cli-context": {"name": "--name"},
    "qscloud": {"tenant": "--tenant", "url": "--tenant", "web_integration_id": "--web-integration-id",
                "api_key": "--api-key", "session": "--session-file", "idp_id": "ID", "tenant_id": "--tenant-id",
                "description": "--description", "hostname": "--hostname", "bearer_token": "--bearer-token"},
    "qscloud idp": {"kid": "--keyid", "clock_tolerance": "--clock-tolerance"},
    "qscloud idp create": {"passphrase": "--cert-passphrase-file"},
    "qscloud idp rotate": {"kid": "--new-keyid", "issuer": "--new-issuer"},
    "qscloud multicloud create": {"bearer_token": "--from-bearer-token"},
}

#: options whose values are secrets whatever they look like: never shown in any message
SECRET_OPTIONS = frozenset({"--cert-privatekey", "--cert-privatekey-passphrase-file", "--passphrase-file",
                            "--jwt", "--api-key", "--cert-passphrase-file"})


def flag_for(param: str, command: str | None) -> str:
    """The option that sets library parameter ``param`` in ``command`` (``"qseow virtual-proxy create"``: the
    most specific entry of the table wins), or the parameter itself when no option sets it."""
    words = (command or "").split()
    for size in range(len(words), 0, -1):
        override = COMMAND_PARAM_FLAGS.get(" ".join(words[:size]), {})
        if param in override:
            return override[param]
    return PARAM_FLAGS.get(param) or param


def article(word: str) -> str:
    """``word`` with its indefinite article: "an EC", "a DSA"."""
    return f"an {word}" if word[:1].upper() in "AEFHILMNORSX" else f"a {word}"
