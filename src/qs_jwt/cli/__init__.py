"""The ``qs-jwt`` command line: argparse, dispatch, and the mapping of errors to exit codes.

Start-up is the budget of a CLI: this module imports only the standard library's argparse, os and
sys. Each command's module (and with it cryptography or PyJWT) is imported when that command runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from .. import __version__
from ._common import (
    ENVIRONMENT_HELP,
    EXIT_CODES_HELP,
    LOG_LEVELS,
    PROG,
    ExitCode,
    UsageError,
)

TYPE_CHECKING = False  # typing costs more start-up time than argparse; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

__all__ = ["EXIT_CODES_HELP", "ExitCode", "UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that raise instead of exiting, and that never echo a value."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def _match_argument(self, action: argparse.Action, arg_strings_pattern: str) -> int:
        try:
            return super()._match_argument(action, arg_strings_pattern)
        except argparse.ArgumentError:
            if not action.option_strings:
                raise
            raise UsageError(f"{_flag(action)}: expected a value; a value that starts with '-' is given as "
                             f"{_flag(action)}=VALUE (see '{self.prog} --help')") from None

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError:
            expected = action.metavar or "a value"
            raise UsageError(f"{_flag(action)}: invalid value, expected {expected} (the value is not shown; "
                             f"see '{self.prog} --help')") from None

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = ", ".join(map(str, action.choices))
        if isinstance(action, argparse._SubParsersAction):
            raise UsageError(f"unknown command{_suggestion(str(value), list(action.choices))}; the commands are "
                             f"{choices} (see '{self.prog} --help')")
        raise UsageError(f"{_flag(action)}: invalid value; use one of {choices}")


def _flag(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else str(action.metavar or action.dest)


def _suggestion(word: str, candidates: list[str]) -> str:
    """``" 'x' (did you mean 'y'?)"`` for a mistyped name, without echoing text that may be a secret."""
    import difflib

    from ..redact import looks_secret

    if looks_secret(word) or len(word) > 60 or not word.isprintable():
        return ""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" {word!r}" + (f" (did you mean {close[0]}?)" if close else "")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=40, width=min(110, _terminal_width()))

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.choices and isinstance(action, argparse._SubParsersAction):
            # argparse measures the command names without their extra indent, and wraps them; allow for it
            names = [sub.dest for sub in action._get_subactions()]
            self._action_max_length = max(self._action_max_length, self._current_indent + 4 + max(map(len, names)))


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns - 2
    except OSError:
        return 100


#: largest --leeway accepted: a day; more than that is not clock skew
MAX_LEEWAY = 86400


def _leeway(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_LEEWAY:  # NaN fails too
        raise UsageError(f"--leeway: expected a number of seconds from 0 to {MAX_LEEWAY} (a day; clock skew is "
                         "smaller)")
    return value


class _VersionAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> NoReturn:
        import platform
        from importlib import metadata

        def version(name: str) -> str:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return "not installed"

        text = (f"{PROG} {__version__}\nPython {platform.python_version()} ({platform.python_implementation()}, "
                f"{sys.platform}), cryptography {version('cryptography')}, PyJWT {version('PyJWT')}\n")
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):  # stdout closed
            from ._run import silence_stdout

            _print_error(f"{PROG}: error: cannot write the output: standard output is closed")
            silence_stdout()
            parser.exit(ExitCode.ERROR)
        parser.exit()


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel", default=None, choices=list(LOG_LEVELS), metavar="LEVEL",
        help="messages on stderr: error, warn, info (default), verbose or debug",
    )


def _add_key_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signing key (one of these, else $QS_JWT_PRIVATE_KEY)")
    group.add_argument("--cert-privatekey-file", metavar="FILE",
                       help="private key file: PEM or DER (PKCS#1, PKCS#8, may be encrypted), PKCS#12 (.pfx), a "
                            "PEM bundle or an OpenSSH RSA key; '-' reads stdin")
    group.add_argument("--cert-privatekey", metavar="PEM",
                       help="private key PEM text (visible to other users in the process list; prefer "
                            "--cert-privatekey-file or $QS_JWT_PRIVATE_KEY)")
    group.add_argument("--cert-privatekey-passphrase-file", metavar="FILE",
                       help="file holding the passphrase of an encrypted key (else "
                            "$QS_JWT_PRIVATE_KEY_PASSPHRASE); with --cert-create, the new key is encrypted with it")
    group.add_argument("--cert-create", nargs="?", const="true", default="false", choices=["true", "false"],
                       metavar="true|false",
                       help="create a new key pair and self-signed certificate and sign with it (bare flag = true)")
    _add_cert_create_options(group, prefix_flags=("--cert-file-prefix",),
                             days_flags=("--cert-create-expires-days",),
                             size_flags=("--cert-create-key-size",), cn_flags=("--cert-create-cn",))


def _add_cert_create_options(group: Any, *, prefix_flags: Sequence[str], days_flags: Sequence[str],
                             size_flags: Sequence[str], cn_flags: Sequence[str]) -> None:
    group.add_argument(*prefix_flags, dest="cert_file_prefix", default="", metavar="PREFIX",
                       help="prefix of the created file names, may include a folder (default: none): "
                            "PREFIXprivatekey.pem, PREFIXpublickey.pem, PREFIXpublickey.cer")
    group.add_argument(*days_flags, dest="cert_create_expires_days", metavar="DAYS",
                       help="validity of the new certificate in days (1-36500)")
    group.add_argument(*size_flags, dest="cert_create_key_size", type=int, default=4096,
                       choices=[2048, 3072, 4096], metavar="2048|3072|4096",
                       help="RSA key size: 2048, 3072 or 4096 (default)")
    group.add_argument(*cn_flags, dest="cert_create_cn", default="qs-jwt", metavar="CN",
                       help="certificate common name (default: qs-jwt)")
    group.add_argument("--force", action="store_true", help="overwrite existing key and certificate files")


def _add_token_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--output", choices=["token", "json"], default=None,
                       help="token (default): the token alone; json: {token, header, payload, expiresAt}")
    group.add_argument("--minimal-output", action="store_true", help="the token alone (same as --output token)")


def _add_token_input(parser: argparse.ArgumentParser,
                     title: str = "token (one of these, else read from stdin)") -> None:
    group = parser.add_argument_group(title)
    group.add_argument("--jwt", metavar="TOKEN", help="the token text (a leading 'Bearer ' is ignored)")
    group.add_argument("--jwt-file", metavar="FILE", help="file holding the token; '-' reads stdin")


def _add_verification_key(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("verification key (optional)")
    group.add_argument("--cert-publickey-file", metavar="FILE",
                       help="PEM/DER public key, X.509 certificate, PKCS#12 (.pfx) or JWK file; '-' reads stdin")
    group.add_argument("--cert-publickey", metavar="PEM", help="public key or certificate PEM text")
    group.add_argument("--jwks-file", metavar="FILE", help="JWK set; the token's kid picks the key")
    group.add_argument("--passphrase-file", metavar="FILE",
                       help="passphrase of a PKCS#12 (.pfx) verification key (else $QS_JWT_PRIVATE_KEY_PASSPHRASE)")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise UsageError("--timeout: expected a number of seconds above 0, at most 3600")
    return value


def _retries(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 20:
        raise UsageError("--retries: expected a whole number of attempts from 1 to 20")
    return int(text)


def _add_connection(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = parser.add_argument_group("connection")
    g.add_argument("--server", required=required, metavar="URL",
                   help="the virtual proxy: https://HOST/PREFIX (http:// only for a loopback address)")
    g.add_argument("--ca-cert", metavar="FILE",
                   help="PEM of the CA, or of the server's own self-signed certificate, to trust (wins over "
                        "$SSL_CERT_FILE; qs-jwt qseow server-cert shows them)")
    g.add_argument("--insecure", action="store_true", help="do not verify the server's certificate (warns)")
    g.add_argument("--timeout", type=_timeout, default=30.0, metavar="SECONDS",
                   help="deadline of each request, retries included (default 30)")
    g.add_argument("--retries", type=_retries, default=3, metavar="N", help="attempts per request, at most (3)")


def _add_signing_key(group: Any) -> None:
    group.add_argument("--cert-privatekey-file", metavar="FILE",
                       help="the signing key: PEM, DER, PKCS#12 or OpenSSH RSA; '-' reads stdin")
    group.add_argument("--cert-privatekey", metavar="PEM", help="the key's PEM text (visible in the process list)")
    group.add_argument("--cert-privatekey-passphrase-file", metavar="FILE",
                       help="passphrase of an encrypted key (else $QS_JWT_PRIVATE_KEY_PASSPHRASE)")


def _add_qseow_minting(parser: argparse.ArgumentParser) -> None:
    _add_token_input(parser)
    g = parser.add_argument_group("or make the JWT now (the create-qseow options; key else $QS_JWT_PRIVATE_KEY)")
    g.add_argument("--userdir", metavar="DIRECTORY", help="user directory")
    g.add_argument("--userid", metavar="USERID", help="user id")
    g.add_argument("--audience", help="the virtual proxy's audience")
    g.add_argument("--expires", default="5m", metavar="DURATION", help="lifetime (default 5m)")
    g.add_argument("--username", metavar="NAME", help="name claim")
    g.add_argument("--useremail", metavar="EMAIL", help="email claim")
    g.add_argument("--groups", nargs="+", action="extend", metavar="GROUP", help="groups")
    g.add_argument("--userid-claim", default="userId", metavar="NAME", help="user ID claim (default userId)")
    g.add_argument("--userdir-claim", default="userDirectory", metavar="NAME",
                   help="user directory claim (default userDirectory)")
    g.add_argument("--groups-claim", default=None, metavar="NAME", help="groups claim (default groups)")
    g.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE", help=_claim_help())
    g.add_argument("--algorithm", choices=["RS256", "RS384", "RS512"], default="RS256", help="default RS256")
    _add_signing_key(g)


def _add_admin_jwt(parser: argparse.ArgumentParser) -> None:
    _add_token_input(parser)
    g = parser.add_argument_group("or make the administrator's JWT now, for the virtual proxy in --server")
    g.add_argument("--admin-userdir", metavar="DIRECTORY", help="the administrator's user directory")
    g.add_argument("--admin-userid", metavar="USERID", help="the administrator's user id")
    g.add_argument("--admin-audience", metavar="AUD", help="the audience of the virtual proxy in --server")
    g = parser.add_argument_group("signing key (for the administrator's JWT; for check, the key to compare)")
    _add_signing_key(g)


def _claim_help() -> str:
    return "extra claim NAME=VALUE; VALUE is parsed as JSON when valid JSON, else kept as text (repeatable)"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``qs-jwt``; with ``only``, the options of that command alone (every command is
    still listed; ``""``: no command's options), which is what a run needs and costs a fraction of the
    start-up time."""

    def wanted(name: str) -> bool:
        return only is None or only == name

    parser = _Parser(
        prog=PROG,
        description="Create, inspect and check JWTs for Qlik Cloud and client-managed Qlik Sense (QSEoW).",
        epilog=f"{EXIT_CODES_HELP}\n\n{ENVIRONMENT_HELP}\n\nRun 'qs-jwt COMMAND --help' for a command's options.",
        formatter_class=_Formatter,
        allow_abbrev=False,
    )
    parser.add_argument("-V", "--version", action=_VersionAction, nargs=0,
                        help="show the version, and those of Python, cryptography and PyJWT, and exit")
    parser.add_argument("--loglevel", dest="loglevel_global", default=None, choices=list(LOG_LEVELS),
                        metavar="LEVEL", help="messages on stderr: error, warn, info (default), verbose or debug; "
                        "also accepted after the command")
    parser.add_argument("--profile", metavar="NAME", help="take option values from the profile NAME of the config "
                        "file (else $QS_JWT_PROFILE); also accepted after the command")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_text: str, description: str, example: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=description,
            epilog=f"example:\n  {example}\n\n{EXIT_CODES_HELP}",
            formatter_class=_Formatter, allow_abbrev=False,
        )
        return sub

    # create-qscloud ------------------------------------------------------------------------------
    qc = command(
        "create-qscloud", "create a JWT for a Qlik Cloud JWT identity provider",
        "Create a JWT for Qlik Cloud (POST /login/jwt-session). The token carries iss, aud, sub, subType,\n"
        "name, email, email_verified (boolean), groups, jti, iat, nbf and exp, and lives at most one hour.",
        "qs-jwt create-qscloud --cert-privatekey-file privatekey.pem --keyid my-key --issuer my-app "
        "--sub alice-42 --useremail alice@example.com --useremail-verified true --groups Sales 'Team A' "
        "--expires 5m",
    )
    if wanted("create-qscloud"):
        _add_common(qc)
        g = qc.add_argument_group("identity provider")
        g.add_argument("--issuer", required=True, help="iss; must equal the identity provider's issuer")
        g.add_argument("--keyid", required=True, help="header kid; must equal the identity provider's key id")
        g = qc.add_argument_group("user")
        g.add_argument("--sub", help="the user's stable subject in Qlik Cloud (default: the email)")
        g.add_argument("--useremail", metavar="EMAIL", help="email claim")
        g.add_argument("--useremail-verified", metavar="true|false",
                       help="email_verified as a JSON boolean (true/false/yes/no/1/0); required with --useremail")
        g.add_argument("--username", metavar="NAME", help="name claim, the display name (default: the sub)")
        g.add_argument("--groups", nargs="+", action="extend", metavar="GROUP",
                       help="groups claim; several values after one flag, quote names with spaces")
        g = qc.add_argument_group("token")
        g.add_argument("--expires", default="5m", metavar="DURATION",
                       help="lifetime: 90s, 5m, 1h, 1h30m ... (default 5m; at most 1h for Qlik Cloud)")
        g.add_argument("--allow-long-lifetime", action="store_true",
                       help="allow a lifetime over one hour (Qlik Cloud rejects such tokens; warns)")
        g.add_argument("--algorithm", choices=["RS256", "RS384", "RS512"], default="RS256",
                       help="signature algorithm (default RS256, the only one Qlik Cloud documents)")
        g.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE", help=_claim_help())
        _add_token_output(qc)
        _add_key_source(qc)

    # create-qseow --------------------------------------------------------------------------------
    qe = command(
        "create-qseow", "create a JWT for a QSEoW virtual proxy with JWT authentication",
        "Create a JWT for a client-managed Qlik Sense (QSEoW) virtual proxy set to JWT authentication.\n"
        "Claim names must match the virtual proxy's JWT attribute settings exactly (case-sensitive).",
        "qs-jwt create-qseow --cert-privatekey-file privatekey.pem --userdir ACME --userid alice "
        "--audience qlik --expires 1h --groups Sales",
    )
    if wanted("create-qseow"):
        _add_common(qe)
        g = qe.add_argument_group("user")
        g.add_argument("--userdir", required=True, metavar="DIRECTORY", help="user directory")
        g.add_argument("--userid", required=True, metavar="USERID", help="user id")
        g.add_argument("--username", metavar="NAME", help="name claim")
        g.add_argument("--useremail", metavar="EMAIL", help="email claim")
        g.add_argument("--groups", nargs="+", action="extend", metavar="GROUP",
                       help="groups; several values after one flag, quote names with spaces")
        g = qe.add_argument_group("virtual proxy")
        g.add_argument("--audience", required=True, help="aud; must equal the virtual proxy's audience")
        g.add_argument("--userid-claim", default="userId", metavar="NAME",
                       help="the virtual proxy's JWT attribute for user ID (default: userId)")
        g.add_argument("--userdir-claim", default="userDirectory", metavar="NAME",
                       help="the virtual proxy's JWT attribute for user directory (default: userDirectory)")
        g.add_argument("--groups-claim", default=None, metavar="NAME",
                       help="claim for the groups (default: groups; 'group' matches the Node tool)")
        g.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                       help=_claim_help() + "; for the virtual proxy's JWT attribute mapping")
        g = qe.add_argument_group("token")
        g.add_argument("--expires", required=True, metavar="DURATION", help="lifetime: 90s, 60m, 8h, 30d, 1y ...")
        g.add_argument("--algorithm", choices=["RS256", "RS384", "RS512"], default="RS256",
                       help="signature algorithm (default RS256)")
        _add_token_output(qe)
        _add_key_source(qe)

    # batch ---------------------------------------------------------------------------------------
    from ._batch import add_parser as add_batch_parser

    add_batch_parser(commands, command, full=wanted("batch"))

    # decode --------------------------------------------------------------------------------------
    de = command(
        "decode", "show a token's header and payload, and verify it when given a key",
        "Decode a JWT and, given a key, verify it. Signature, time validity, audience and issuer are\n"
        "reported separately. Exit 0: decoded, and everything checked passed; 3: the signature or time\n"
        "check failed (with a key), or --expected-audience/--expected-issuer did not match.",
        "qs-jwt decode --jwt-file token.txt --cert-publickey-file publickey.cer --expected-audience qlik",
    )
    if wanted("decode"):
        _add_common(de)
        _add_token_input(de)
        _add_verification_key(de)
        g = de.add_argument_group("checks")
        g.add_argument("--expected-audience", metavar="AUD", help="the aud the token must carry")
        g.add_argument("--expected-issuer", metavar="ISS", help="the iss the token must carry")
        g.add_argument("--algorithms", default="RS256,RS384,RS512", metavar="LIST",
                       help="accepted algorithms, comma-separated (default: RS256,RS384,RS512)")
        g.add_argument("--leeway", type=_leeway, default=0.0, metavar="SECONDS",
                       help="clock skew tolerated for exp, nbf and iat (default 0, at most 86400)")
        g = de.add_argument_group("output")
        g.add_argument("--output", choices=["text", "json"], default=None,
                       help="text (default) or json: {header, payload, verification}")
        g.add_argument("--minimal-output", action="store_true", help="same as --output json")

    # check ---------------------------------------------------------------------------------------
    ch = command(
        "check", "list every Qlik rule a token breaks, with the fix",
        "Check a JWT against the rules of Qlik Cloud (--target qscloud) or a QSEoW JWT virtual proxy\n"
        "(--target qseow). Errors are what Qlik rejects or ignores; warnings are probably unintended.\n"
        "Exit 0 when no error is found, 3 otherwise.",
        "qs-jwt check --target qscloud --jwt-file token.txt --issuer my-app --keyid my-key "
        "--cert-publickey-file publickey.cer",
    )
    if wanted("check"):
        _add_common(ch)
        ch.add_argument("--target", required=True, choices=["qscloud", "qseow", "oauth-assertion"],
                        help="the Qlik product: qscloud, qseow, or oauth-assertion (a private key JWT)")
        _add_token_input(ch)
        _add_verification_key(ch)
        g = ch.add_argument_group("expected values")
        g.add_argument("--issuer", help="qscloud: the identity provider's issuer")
        g.add_argument("--keyid", help="qscloud: the identity provider's key id; oauth-assertion: the client key's")
        g.add_argument("--tenant", metavar="URL", help="oauth-assertion: the tenant (aud is its token endpoint)")
        g.add_argument("--client-id", metavar="ID", help="oauth-assertion: the OAuth client (iss and sub)")
        g.add_argument("--audience", help="qseow: the virtual proxy's audience")
        g.add_argument("--userid-claim", metavar="NAME", help="qseow: JWT attribute for user ID (default userId)")
        g.add_argument("--userdir-claim", metavar="NAME",
                       help="qseow: JWT attribute for user directory (default userDirectory)")
        g.add_argument("--leeway", type=_leeway, default=0.0, metavar="SECONDS",
                       help="clock skew tolerated for exp, nbf and iat (default 0, at most 86400)")
        g = ch.add_argument_group("output")
        g.add_argument("--output", choices=["text", "json"], default="text",
                       help="text (default) or json: {target, ok, findings: [{rule, severity, message, fix}]}")
        g.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 3)")

    # cert ----------------------------------------------------------------------------------------
    ce = command(
        "cert", "create, show, export or check keys and certificates",
        "Keys and certificates for Qlik's JWT settings.",
        "qs-jwt cert create --cert-file-prefix keys/ --cert-create-expires-days 365",
    )
    if wanted("cert"):
        ce.add_argument("--loglevel", dest="loglevel_group", default=None, choices=list(LOG_LEVELS), metavar="LEVEL",
                        help=argparse.SUPPRESS)
        cert_commands = ce.add_subparsers(dest="cert_command", metavar="SUBCOMMAND", parser_class=_Parser)
        cc = cert_commands.add_parser(
            "create", help="create an RSA key pair and a self-signed certificate",
            description="Create an RSA key pair and a self-signed X.509 certificate: PREFIXprivatekey.pem (PKCS#8,\n"
                        "mode 0600), PREFIXpublickey.pem and PREFIXpublickey.cer. Existing files are kept unless "
                        "--force.",
            epilog="example:\n  qs-jwt cert create --cert-file-prefix keys/ --cert-create-expires-days 365\n\n"
                   + EXIT_CODES_HELP,
            formatter_class=_Formatter, allow_abbrev=False,
        )
        _add_common(cc)
        g = cc.add_argument_group("key and certificate")
        _add_cert_create_options(g, prefix_flags=("--cert-file-prefix", "--prefix"),
                                 days_flags=("--cert-create-expires-days", "--days"),
                                 size_flags=("--cert-create-key-size", "--key-size"),
                                 cn_flags=("--cert-create-cn", "--cn"))
        g.add_argument("--passphrase-file", metavar="FILE",
                       help="encrypt the private key with the passphrase in FILE (PKCS#8, best available cipher)")
        g.add_argument("--output", choices=["text", "json"], default="text",
                       help="text (default: summary on stderr) or json: the summary on stdout")
        for name, help_text, description, example in (
            ("show", "describe a certificate or key: type, size, fingerprints, validity, one-line PEM",
             "Describe a certificate, public key or private key (never printing private material): type,\n"
             "size, SHA-256 fingerprint, RFC 7638 thumbprint (a good kid), validity, and the one-line PEM\n"
             "that Qlik Cloud's identity-provider form and API want.",
             "qs-jwt cert show publickey.cer"),
            ("jwks", "print the public key as a JWK set",
             "Print the public key of a certificate or key as a JWK set (kid defaults to the thumbprint).",
             "qs-jwt cert jwks publickey.cer --kid my-key"),
            ("check", "validate a key or certificate for use with Qlik",
             "Validate a key or certificate: full RSA key check, size >= 2048, exponent 65537, certificate\n"
             "dates, and that a private key file is not readable by others. Exit 3 when a check fails.",
             "qs-jwt cert check privatekey.pem"),
        ):
            sub = cert_commands.add_parser(name, help=help_text, description=description,
                                           epilog=f"example:\n  {example}\n\n{EXIT_CODES_HELP}",
                                           formatter_class=_Formatter, allow_abbrev=False)
            _add_common(sub)
            sub.add_argument("file", metavar="FILE", help="certificate, public key, private key, PKCS#12 (.pfx), PEM "
                             "bundle or JWK file; '-' reads stdin")
            sub.add_argument("--passphrase-file", metavar="FILE",
                             help="passphrase of an encrypted private key or PKCS#12 file (else "
                                  "$QS_JWT_PRIVATE_KEY_PASSPHRASE)")
            if name == "jwks":
                sub.add_argument("--kid", help="key id to put in the JWK (default: the RFC 7638 thumbprint)")
                sub.add_argument("--alg", choices=["RS256", "RS384", "RS512"], default="RS256",
                                 help="alg member of the JWK (default RS256)")
                sub.add_argument("--use", choices=["sig"],
                                 help="sig: print the one JWK (kid, kty, alg, use, n, e) that Qlik's OAuth client "
                                      "form takes, not a set")
            else:
                sub.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
    # create-client-assertion ---------------------------------------------------------------------
    ca = command(
        "create-client-assertion", "create an OAuth client assertion (private key JWT) for Qlik Cloud",
        "Create a client assertion for POST https://TENANT/oauth/token (RFC 7523): header alg (RS256 or RS512),\n"
        "typ JWT and kid; claims iss = sub = the client id, aud = https://TENANT/oauth/token, a new UUID jti, iat\n"
        "and exp (at most 5 minutes later). Qlik takes each once: qscloud oauth token makes one per request.",
        "qs-jwt create-client-assertion --tenant your-tenant.eu.qlikcloud.com --client-id ID --keyid my-key "
        "--cert-privatekey-file privatekey.pem",
    )
    if wanted("create-client-assertion"):
        _add_common(ca)
        g = ca.add_argument_group("the OAuth client")
        g.add_argument("--tenant", required=True, metavar="URL", help="the tenant: https://HOST or HOST")
        g.add_argument("--client-id", required=True, metavar="ID", help="the OAuth client's id (iss and sub)")
        g.add_argument("--keyid", required=True, metavar="KID", help="the kid of the key registered on the client")
        g = ca.add_argument_group("token")
        g.add_argument("--algorithm", choices=["RS256", "RS512"], default="RS256", help="default RS256")
        g.add_argument("--expires", default="5m", metavar="DURATION", help="lifetime (default and at most 5m)")
        _add_token_output(ca)
        _add_key_source(ca)

    # qseow ---------------------------------------------------------------------------------------
    qs = command(
        "qseow", "call QSEoW through a JWT virtual proxy; create, list and check virtual proxies",
        "Client-managed Qlik Sense (QSEoW) through a JWT virtual proxy: Repository Service (QRS) calls with\n"
        "an xrfkey and the proxy's session, the server's certificate, JWT virtual proxies created, listed and\n"
        "checked against the local key, and qlik-cli contexts.",
        "qs-jwt qseow call GET /qrs/about --server https://qlik.example.com/jwt --ca-cert root.pem "
        "--jwt-file token.txt",
    )
    if wanted("qseow"):
        qseow_commands = qs.add_subparsers(dest="qseow_command", metavar="SUBCOMMAND", parser_class=_Parser)

        def qseow_command(name: str, help_text: str, description: str, example: str,
                          parent: Any = qseow_commands) -> argparse.ArgumentParser:
            sub = parent.add_parser(name, help=help_text, description=description,
                                    epilog=f"example:\n  {example}\n\n{EXIT_CODES_HELP}", formatter_class=_Formatter,
                                    allow_abbrev=False)
            _add_common(sub)
            return sub  # type: ignore[no-any-return]

        qcall = qseow_command(
            "call", "call any path through the virtual proxy (QRS: /qrs/...), JSON out",
            "Call METHOD PATH through the virtual proxy in --server. Every request carries a fresh xrfkey (query and\n"
            "header); the first sends the JWT as Authorization: Bearer, later ones the proxy's session cookie. A JSON\n"
            "answer is printed pretty on stdout (--raw: as received). A refused JWT (401) is explained.",
            "qs-jwt qseow call GET /qrs/app --server https://qlik.example.com/jwt --ca-cert root.pem "
            "--cert-privatekey-file privatekey.pem --userdir ACME --userid admin --audience qlik",
        )
        qcall.add_argument("method", metavar="METHOD", help="GET, POST, PUT, PATCH, DELETE or HEAD")
        qcall.add_argument("path", metavar="PATH", help="the path under the virtual proxy, e.g. /qrs/about")
        g = qcall.add_argument_group("request")
        g.add_argument("--data", metavar="JSON|@FILE", help="a JSON body: the text, @FILE, or @- for standard input")
        g.add_argument("--query", action="append", default=[], metavar="NAME=VALUE",
                       help="query parameter (repeatable)")
        g.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'", help="header (repeatable)")
        g.add_argument("--raw", action="store_true", help="print the answer as received")
        _add_connection(qcall)
        _add_qseow_minting(qcall)

        sc = qseow_command(
            "server-cert", "show the certificates the server presents, with fingerprints",
            "Print the certificate chain the server presents (PEM), with subject, issuer, validity and SHA-256\n"
            "fingerprints, without verifying it: check the fingerprint, then pin it with --ca-cert.",
            "qs-jwt qseow server-cert --server https://qlik.example.com",
        )
        sc.add_argument("--server", required=True, metavar="URL", help="https://HOST[:PORT]")
        sc.add_argument("--timeout", type=_timeout, default=10.0, metavar="SECONDS",
                        help="connect timeout (default 10)")
        sc.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")

        qc = qseow_command(
            "qlik-cli-context", "print the qlik-cli command that makes a context for the virtual proxy",
            "Print the exact 'qlik context create NAME --server URL --server-type windows --api-key JWT' line for the\n"
            "virtual proxy in --server (the JWT given, or made now). The line holds the token: that is its purpose.",
            "qs-jwt qseow qlik-cli-context --name qseow --server https://qlik.example.com/jwt "
            "--cert-privatekey-file privatekey.pem --userdir ACME --userid admin --audience qlik --expires 8h",
        )
        qc.add_argument("--name", required=True, help="the context's name")
        qc.add_argument("--server", required=True, metavar="URL", help="https://HOST/PREFIX: the virtual proxy")
        qc.add_argument("--insecure", action="store_true", help="add --insecure (a self-signed server certificate)")
        qc.add_argument("--output", choices=["command", "json"], default="command",
                        help="command (default) or json: {name, server, serverType, apiKey, insecure, command}")
        _add_qseow_minting(qc)

        vp = qseow_command(
            "virtual-proxy", "create, list or check JWT virtual proxies through QRS",
            "JWT virtual proxies, through the Repository Service of the server in --server (an existing virtual\n"
            "proxy that an administrator's JWT reaches).",
            "qs-jwt qseow virtual-proxy list --server https://qlik.example.com/jwt --jwt-file admin-token.txt",
        )
        vp_commands = vp.add_subparsers(dest="vp_command", metavar="SUBCOMMAND", parser_class=_Parser)
        vc = qseow_command(
            "create", "build a JWT virtual proxy from a certificate; create and link it",
            "Build the QRS virtualproxyconfig body of a JWT virtual proxy from the certificate. With --server and an\n"
            "administrator's JWT, create it (POST /qrs/virtualproxyconfig) and link it to a proxy service; without\n"
            "--server, or with --dry-run, print the body.",
            "qs-jwt qseow virtual-proxy create --prefix jwt --cert-file publickey.cer --audience qlik --server "
            "https://qlik.example.com/admin --jwt-file admin-token.txt",
            vp_commands,
        )
        g = vc.add_argument_group("the virtual proxy")
        g.add_argument("--prefix", required=True, help="lower-case a-z 0-9 - . _ ~")
        g.add_argument("--cert-file", required=True, metavar="FILE",
                       help="the signer's X.509 certificate: PEM, DER or PKCS#12 (a bare public key is refused)")
        g.add_argument("--cert-passphrase-file", metavar="FILE", help="password of a PKCS#12 --cert-file")
        g.add_argument("--description")
        g.add_argument("--session-cookie-header", metavar="NAME", help="default: X-Qlik-Session-PREFIX")
        g.add_argument("--audience", help="the aud the tokens carry (create-qseow --audience)")
        g.add_argument("--userid-claim", default="userId", metavar="NAME", help="JWT attribute for user ID (userId)")
        g.add_argument("--userdir-claim", default="userDirectory", metavar="NAME",
                       help="JWT attribute for user directory (userDirectory)")
        g.add_argument("--attribute", action="append", default=[], metavar="CLAIM=ATTRIBUTE",
                       help="JWT attribute mapping: a claim to a Qlik Sense attribute (repeatable)")
        g.add_argument("--load-balancing-node", metavar="ID", help="server node id (default: the central node)")
        g.add_argument("--host-allow-list", action="append", default=[], metavar="HOST",
                       help="host allowed for websockets (repeatable; default: the host of --server)")
        g.add_argument("--proxy-id", metavar="ID", help="the proxy service to link (default: the only or central one)")
        g.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
        _add_connection(vc, required=False)
        _add_admin_jwt(vc)
        vl = qseow_command(
            "list", "list the virtual proxies: prefix, authentication, linked",
            "List the virtual proxies: prefix, authentication method, whether a proxy service links them.",
            "qs-jwt qseow virtual-proxy list --server https://qlik.example.com/jwt --jwt-file admin-token.txt",
            vp_commands,
        )
        vl.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
        _add_connection(vl)
        _add_admin_jwt(vl)
        vk = qseow_command(
            "check", "check a virtual proxy against the local key and claim names",
            "Read the virtual proxy PREFIX through QRS and name each reason it would refuse tokens from the signing\n"
            "key: not JWT, another certificate, claim names, audience, no load-balancing node, not linked, empty\n"
            "host allow list. Exit 0 when a token from this key would be accepted, 3 otherwise.",
            "qs-jwt qseow virtual-proxy check jwt --cert-privatekey-file privatekey.pem --audience qlik --server "
            "https://qlik.example.com/jwt --jwt-file admin-token.txt",
            vp_commands,
        )
        vk.add_argument("prefix", metavar="PREFIX", help="the virtual proxy to check")
        g = vk.add_argument_group("the tokens to be accepted")
        g.add_argument("--audience", help="their aud")
        g.add_argument("--userid-claim", default="userId", metavar="NAME",
                       help="their user ID claim (default userId, as create-qseow)")
        g.add_argument("--userdir-claim", default="userDirectory", metavar="NAME",
                       help="their user directory claim (default userDirectory, as create-qseow)")
        vk.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
        _add_connection(vk)
        _add_admin_jwt(vk)
        vr = qseow_command(
            "rotate-cert", "replace a virtual proxy's JWT certificate (the new key's)",
            "Replace the JWT certificate of the virtual proxy PREFIX: the whole entity is read and written back with\n"
            "its modifiedDate (PUT /qrs/virtualproxyconfig/{id}; a conflict is retried once), and the stored entity\n"
            "is checked: the new certificate, every other field unchanged. Tokens signed with the old key stop\n"
            "working through it at once: it asks first (--yes skips the question; without a terminal, --yes is\n"
            "needed).",
            "qs-jwt qseow virtual-proxy rotate-cert jwt --cert-file-prefix keys/new- --server "
            "https://qlik.example.com/admin --jwt-file admin-token.txt --yes",
            vp_commands,
        )
        vr.add_argument("prefix", metavar="PREFIX", help="the virtual proxy whose certificate is replaced")
        _add_new_key(vr, private=False)
        vr.add_argument("--yes", action="store_true", help="do not ask")
        vr.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
        _add_connection(vr)
        _add_admin_jwt(vr)

        dp = qseow_command(
            "deployment", "create cloud-distribution deployments; print their bearer tokens",
            "Cloud distribution deployments of the QSEoW site, through the Hybrid Deployment Service API\n"
            "(/api/hds/v1, reached through a JWT virtual proxy; not in Qlik's published API reference).",
            "qs-jwt qseow deployment create --server https://qlik.example.com/jwt --name tenant-a --tenant "
            "tenant-a.eu.qlikcloud.com --jwt-file admin-token.txt",
        )
        dp_commands = dp.add_subparsers(dest="dp_command", metavar="SUBCOMMAND", parser_class=_Parser)
        dc = qseow_command(
            "create", "create a deployment to a Qlik Cloud tenant, with a local bearer token",
            "POST /api/hds/v1/Deployments {name, audience: qlik.api, serviceUrl: the tenant, localBearerToken: true}\n"
            "and print the created deployment as JSON.",
            "qs-jwt qseow deployment create --server https://qlik.example.com/jwt --name tenant-a --tenant "
            "tenant-a.eu.qlikcloud.com --cert-privatekey-file privatekey.pem --userdir ACME --userid admin "
            "--audience qlik",
            dp_commands,
        )
        dc.add_argument("--name", required=True, help="the deployment's name")
        dc.add_argument("--tenant", required=True, metavar="URL", help="the Qlik Cloud tenant (the API endpoint)")
        _add_connection(dc)
        _add_qseow_minting(dc)
        db = qseow_command(
            "bearer-token", "print a deployment's bearer token in Qlik Cloud format",
            "Print the bearer token of deployment ID in \"Qlik Cloud format\" alone on stdout, whichever way the\n"
            "server answers it (a JSON string or plain text); --decode prints what it holds instead.",
            "qs-jwt qseow deployment bearer-token ID --server https://qlik.example.com/jwt --jwt-file admin-token.txt",
            dp_commands,
        )
        db.add_argument("id", metavar="ID", help="the deployment's id")
        db.add_argument("--decode", action="store_true", help="print the decoded JSON (as qscloud multicloud decode)")
        _add_connection(db)
        _add_qseow_minting(db)

    # multicloud ----------------------------------------------------------------------------------
    mcl = command(
        "multicloud", "set up cloud distribution from one QSEoW site to many Qlik Cloud tenants",
        "Cloud distribution from one QSEoW site to many Qlik Cloud tenants: a deployment on the QSEoW side and a\n"
        "multi-cloud identity provider on each tenant, made from that deployment's bearer token.",
        "qs-jwt multicloud setup --server https://qlik.example.com/jwt --tenants-file tenants.csv --jwt-file "
        "admin-token.txt",
    )
    if wanted("multicloud"):
        mcl_commands = mcl.add_subparsers(dest="multicloud_command", metavar="SUBCOMMAND", parser_class=_Parser)
        ms = mcl_commands.add_parser(
            "setup", help="for every tenant of a file: a deployment, its bearer token, a multi-cloud identity provider",
            description="For each tenant of --tenants-file, in order: skip it when it has a multi-cloud identity\n"
                        "provider (--replace: delete it and go on); else create (or reuse) the QSEoW deployment for\n"
                        "it, fetch its bearer token, and create the tenant's multi-cloud identity provider with the\n"
                        "tenant's API key. One JSON line per tenant on stdout, a progress line on stderr. A failing\n"
                        "tenant does not stop the others; a re-run creates only what is missing. Exit 0 when none\n"
                        "failed, 4 when every failure was a Qlik API's answer, 1 otherwise.",
            epilog="tenants file (CSV; relative api_key_file paths are read from the file's folder):\n"
                   "  tenant,api_key_file,name\n  tenant-a.eu.qlikcloud.com,keys/tenant-a.txt,Tenant A\n\n"
                   "example:\n  qs-jwt multicloud setup --server https://qlik.example.com/jwt --tenants-file "
                   f"tenants.csv --jwt-file admin-token.txt\n\n{EXIT_CODES_HELP}",
            formatter_class=_Formatter, allow_abbrev=False,
        )
        _add_common(ms)
        ms.add_argument("--tenants-file", required=True, metavar="FILE",
                        help="CSV with the header tenant,api_key_file and an optional name column")
        ms.add_argument("--replace", action="store_true",
                        help="replace a tenant's existing multi-cloud identity provider")
        ms.add_argument("--dry-run", action="store_true", help="read only; print what would be done")
        _add_connection(ms)
        _add_qseow_minting(ms)

    # profile -------------------------------------------------------------------------------------
    pr = command(
        "profile", "list the profiles of the config file, or show one",
        "Named profiles hold option values (issuer, keyid, key file, tenant, server, CA certificate, API key file,\n"
        "...) in a TOML file: $QS_JWT_CONFIG, else ~/.config/qs-jwt/config.toml (%APPDATA%\\qs-jwt\\config.toml\n"
        "on Windows), as [profiles.NAME] tables of long option names. --profile NAME (or $QS_JWT_PROFILE) uses one;\n"
        "the command line wins over $QS_JWT_<OPTION>, which wins over the profile.",
        "qs-jwt profile show prod",
    )
    if wanted("profile"):
        pr_commands = pr.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", parser_class=_Parser)
        pl = pr_commands.add_parser("list", help="list the profiles", description="List the profiles of the file.",
                                    epilog=f"example:\n  qs-jwt profile list\n\n{EXIT_CODES_HELP}",
                                    formatter_class=_Formatter, allow_abbrev=False)
        _add_common(pl)
        pl.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
        ps = pr_commands.add_parser("show", help="show one profile (secrets never shown)",
                                    description="Show the options of one profile; secret values are never shown, "
                                                "files are shown by their path.",
                                    epilog=f"example:\n  qs-jwt profile show prod\n\n{EXIT_CODES_HELP}",
                                    formatter_class=_Formatter, allow_abbrev=False)
        _add_common(ps)
        ps.add_argument("name", metavar="NAME", help="the profile")
        ps.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")

    # qscloud -------------------------------------------------------------------------------------
    qcl = command(
        "qscloud", "log in to Qlik Cloud with a JWT, call any API, manage identity providers",
        "Qlik Cloud: a JWT exchanged for a session (cookies and CSRF token), any REST call with that session or an\n"
        "API key, the tenant's identity providers (JWT and multi-cloud) created, listed, deleted and checked\n"
        "against the local key, and a refused login explained.",
        "qs-jwt qscloud call GET /api/v1/users/me --tenant your-tenant.eu.qlikcloud.com --jwt-file token.txt",
    )
    if wanted("qscloud"):
        _add_qscloud(qcl)
    return parser


def _add_tenant(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = parser.add_argument_group("connection")
    g.add_argument("--tenant", required=required, metavar="URL",
                   help="the tenant: https://HOST or HOST, e.g. your-tenant.eu.qlikcloud.com (http:// only for a "
                        "loopback address)")
    g.add_argument("--ca-cert", metavar="FILE",
                   help="PEM of the CA to trust instead of the system's (wins over $SSL_CERT_FILE; for a proxy that "
                        "inspects TLS)")
    g.add_argument("--insecure", action="store_true", help="do not verify the server's certificate (warns)")
    g.add_argument("--timeout", type=_timeout, default=30.0, metavar="SECONDS",
                   help="deadline of each request, retries included (default 30)")
    g.add_argument("--retries", type=_retries, default=3, metavar="N", help="attempts per request, at most (3)")


def _add_api_key(parser: argparse.ArgumentParser, title: str = "admin credential (else $QLIK_API_KEY)", *,
                 user: bool = False) -> None:
    g = parser.add_argument_group(title)
    g.add_argument("--api-key-file", metavar="FILE",
                   help="file holding a tenant admin's API key (or an OAuth access token); '-' reads stdin")
    g.add_argument("--api-key", metavar="KEY", help="the key itself (visible in the process list; warns)")
    _add_oauth_client(parser, "or an OAuth client (an access token is fetched once per run)", user=user)


def _add_oauth_client(parser: argparse.ArgumentParser, title: str, *, user: bool, signing: bool = False) -> None:
    g = parser.add_argument_group(title)
    g.add_argument("--client-id", metavar="ID", help="the OAuth client's id")
    g.add_argument("--client-secret-file", metavar="FILE",
                   help="file holding its secret (else $QLIK_OAUTH_CLIENT_SECRET); '-' reads stdin")
    g.add_argument("--client-secret", metavar="SECRET", help="the secret itself (visible in the process list; warns)")
    g.add_argument("--assertion-keyid", metavar="KID",
                   help="authenticate by private key JWT instead: the kid of the key registered on the client")
    g.add_argument("--assertion-privatekey-file", metavar="FILE",
                   help="the private key of --assertion-keyid" + (" (else the signing key options)" if signing else ""))
    g.add_argument("--assertion-passphrase-file", metavar="FILE", help="passphrase of an encrypted assertion key")
    g.add_argument("--assertion-algorithm", choices=["RS256", "RS512"], default="RS256",
                   help="the assertion's algorithm (default RS256)")
    g.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                   help="a scope to ask for (repeatable; default: the client's)")
    if user:
        g.add_argument("--impersonate-sub", metavar="SUB", help="an impersonation token for the user with this subject")
        g.add_argument("--impersonate-email", metavar="EMAIL", help="... with this email")
        g.add_argument("--impersonate-user-id", metavar="ID", help="... with this user id")


def _add_qscloud_minting(parser: argparse.ArgumentParser) -> None:
    _add_token_input(parser, "the user's JWT (one of these)")
    g = parser.add_argument_group("or make the JWT now (the create-qscloud options; key else $QS_JWT_PRIVATE_KEY)")
    g.add_argument("--issuer", help="iss: the identity provider's issuer")
    g.add_argument("--keyid", help="kid: the identity provider's key id")
    g.add_argument("--sub", help="the user's stable subject (default: the email)")
    g.add_argument("--useremail", metavar="EMAIL", help="email claim")
    g.add_argument("--useremail-verified", metavar="true|false", help="email_verified (a JSON boolean)")
    g.add_argument("--username", metavar="NAME", help="name claim (default: the sub)")
    g.add_argument("--groups", nargs="+", action="extend", metavar="GROUP", help="groups claim")
    g.add_argument("--expires", default="5m", metavar="DURATION", help="lifetime (default 5m, at most 1h)")
    g.add_argument("--algorithm", choices=["RS256", "RS384", "RS512"], default="RS256", help="default RS256")
    g.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE", help=_claim_help())
    _add_signing_key(g)
    parser.add_argument("--web-integration-id", metavar="ID",
                        help="sent as qlik-web-integration-id (only needed for a browser origin)")


def _add_qscloud(qcl: argparse.ArgumentParser) -> None:
    cloud_commands = qcl.add_subparsers(dest="qscloud_command", metavar="SUBCOMMAND", parser_class=_Parser)

    def sub(name: str, help_text: str, description: str, example: str, parent: Any = cloud_commands,
            ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help_text, description=description,
                                   epilog=f"example:\n  {example}\n\n{EXIT_CODES_HELP}", formatter_class=_Formatter,
                                   allow_abbrev=False)
        _add_common(parser)
        return parser  # type: ignore[no-any-return]

    lo = sub(
        "login", "exchange a JWT for a session; print the user; save the session",
        "POST /login/jwt-session with the JWT (given, or made now with a fresh jti), keep every cookie, fetch the\n"
        "CSRF token, and print GET /api/v1/users/me. --session-file saves cookies and CSRF token (mode 0600) for\n"
        "qscloud call. A refused login is explained: Qlik's answer, the likely cause, and what a local check of\n"
        "the token finds.",
        "qs-jwt qscloud login --tenant your-tenant.eu.qlikcloud.com --issuer my-app --keyid my-key --sub alice-42 "
        "--cert-privatekey-file privatekey.pem --session-file session.json",
    )
    lo.add_argument("--session-file", metavar="FILE", help="save the session here (JSON, mode 0600; replaced)")
    _add_tenant(lo)
    _add_qscloud_minting(lo)

    ca = sub(
        "call", "call any Qlik Cloud API with a JWT session, a saved session or an API key",
        "Call METHOD PATH on the tenant: as the user of a JWT (logged in first), of a saved --session-file, or with\n"
        "an API key (Authorization: Bearer, no session). With a session, every POST, PUT, PATCH and DELETE carries\n"
        "the CSRF token. The answer is printed on stdout (JSON pretty; --raw as received); an error answer, or a\n"
        "207 Multi-Status with failed items, exits 4.",
        "qs-jwt qscloud call POST /api/v1/licenses/assignments/actions/add --tenant your-tenant.eu.qlikcloud.com "
        "--jwt-file token.txt --data '{\"add\": [{\"subject\": \"DOMAIN\\\\user1\", \"type\": \"analyzer\"}]}'",
    )
    ca.add_argument("method", metavar="METHOD", help="GET, POST, PUT, PATCH, DELETE or HEAD")
    ca.add_argument("path", metavar="PATH", help="the API path, e.g. /api/v1/users/me")
    g = ca.add_argument_group("request")
    g.add_argument("--data", metavar="JSON|@FILE", help="a JSON body: the text, @FILE, or @- for standard input")
    g.add_argument("--query", action="append", default=[], metavar="NAME=VALUE", help="query parameter (repeatable)")
    g.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'", help="header (repeatable)")
    g.add_argument("--raw", action="store_true", help="print the answer as received")
    ca.add_argument("--session-file", metavar="FILE",
                    help="a session saved by qscloud login (with a JWT: log in and save the session here)")
    _add_tenant(ca)
    _add_api_key(ca, "or an API key (else $QLIK_API_KEY when no JWT or session is given)", user=True)
    _add_qscloud_minting(ca)

    idp = sub(
        "idp", "create, list, get, delete or check identity providers",
        "The tenant's identity providers, through /api/v1/identity-providers with a tenant admin's API key.",
        "qs-jwt qscloud idp list --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt",
    )
    idp_commands = idp.add_subparsers(dest="idp_command", metavar="SUBCOMMAND", parser_class=_Parser)
    ic = sub(
        "create", "create the JWT identity provider that create-qscloud tokens need",
        "Create a JWT identity provider (protocol jwtAuth, provider external, not interactive, active, JWT login on)\n"
        "for --issuer with the certificate's key; the key id defaults to the key's RFC 7638 thumbprint. An identity\n"
        "provider with this issuer, kid and key already there is reported, not made twice; one with this issuer\n"
        "and another key is an error. --dry-run prints the body and sends nothing.",
        "qs-jwt qscloud idp create --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt --issuer my-app "
        "--cert-file publickey.cer",
        idp_commands,
    )
    g = ic.add_argument_group("the identity provider")
    g.add_argument("--issuer", required=True, help="the issuer (iss) the tokens carry")
    g.add_argument("--keyid", metavar="KID", help="the key id (kid) the tokens carry (default: the key's thumbprint)")
    g.add_argument("--cert-file", metavar="FILE", help="the signer's X.509 certificate: PEM, DER or PKCS#12")
    g.add_argument("--publickey-file", metavar="FILE", help="or the public key (PEM or DER; warns)")
    g.add_argument("--cert-passphrase-file", metavar="FILE", help="password of a PKCS#12 --cert-file")
    g.add_argument("--description")
    g.add_argument("--clock-tolerance", type=_clock_tolerance, metavar="SECONDS",
                   help="clockToleranceSec: clock skew tolerated, 0-3600 seconds")
    g.add_argument("--tenant-id", metavar="ID", help="the tenant's id (default: from GET /api/v1/users/me)")
    g.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
    _add_tenant(ic, required=False)
    _add_api_key(ic)
    il = sub(
        "list", "list the identity providers (every page)",
        "List the tenant's identity providers: id, protocol, active, issuer (JWT) or host (multi-cloud), kid.",
        "qs-jwt qscloud idp list --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt --protocol jwtAuth",
        idp_commands,
    )
    il.add_argument("--protocol", help="only this protocol: jwtAuth, qsefw-local-bearer-token, OIDC, SAML ...")
    il.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
    _add_tenant(il)
    _add_api_key(il)
    for name, help_text, example in (
        ("get", "print one identity provider as JSON",
         "qs-jwt qscloud idp get ID --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt"),
        ("delete", "delete an identity provider (its users can no longer log in through it)",
         "qs-jwt qscloud idp delete ID --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt"),
    ):
        one = sub(name, help_text, help_text[0].upper() + help_text[1:] + ".", example, idp_commands)
        one.add_argument("id", metavar="ID", help="the identity provider's id (qscloud idp list shows it)")
        _add_tenant(one)
        _add_api_key(one)
    ik = sub(
        "check", "say which JWT identity provider the key's tokens meet, and every mismatch",
        "Read the tenant's JWT identity providers and name the one tokens from the signing key meet, and each reason\n"
        "it would refuse them: issuer, kid, public key (by thumbprint), inactive, JWT login off, more than one\n"
        "identity provider with the issuer. Without --issuer, the one that holds the key is found. Exit 0 when a\n"
        "token from this key with these values would be accepted, 3 otherwise.",
        "qs-jwt qscloud idp check --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt "
        "--cert-privatekey-file privatekey.pem --issuer my-app --keyid my-key",
        idp_commands,
    )
    g = ik.add_argument_group("the tokens to be accepted")
    g.add_argument("--issuer", help="their iss (default: the issuer of the identity provider holding the key)")
    g.add_argument("--keyid", help="their kid")
    g = ik.add_argument_group("signing key (one of these, else $QS_JWT_PRIVATE_KEY)")
    _add_signing_key(g)
    ik.add_argument("--output", choices=["text", "json"], default="text",
                    help="text (default) or json: {ok, findings, thumbprint, identityProvider}")
    _add_tenant(ik)
    _add_api_key(ik)
    ir = sub(
        "rotate", "add a second JWT identity provider for the issuer, with a new key",
        "Rotate the key of the JWT identity provider of --issuer: make (--cert-file-prefix) or bring the new key,\n"
        "create a second identity provider for the issuer with it (kid: the new key's thumbprint; description and\n"
        "clock tolerance copied), check it, and print what every token minter must change. The old one keeps\n"
        "working until 'idp retire'. Run again after a success, it reports the rotation instead of making another.\n"
        "--verify-sub SUB also logs in once with a token from the new key (this creates or touches that user).",
        "qs-jwt qscloud idp rotate --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt --issuer my-app "
        "--cert-file-prefix keys/2027-",
        idp_commands,
    )
    ir.add_argument("--issuer", required=True, help="the issuer whose key is rotated")
    ir.add_argument("--new-keyid", metavar="KID", help="the new key's kid (default: its RFC 7638 thumbprint)")
    ir.add_argument("--new-issuer", metavar="ISS",
                    help="give the new identity provider this issuer (when Qlik refuses two for one issuer)")
    ir.add_argument("--verify-sub", metavar="SUB", help="log in once as SUB with a token from the new key")
    ir.add_argument("--dry-run", action="store_true", help="show what would be made; write and send nothing")
    ir.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
    _add_new_key(ir, private=True)
    _add_tenant(ir)
    _add_api_key(ir)
    it = sub(
        "retire", "delete the issuer's other JWT identity providers, keeping one kid",
        "Delete every JWT identity provider of --issuer except the one with --keep-kid (which must exist and be\n"
        "active), after showing which: tokens with their kids stop working. It asks first (--yes skips the\n"
        "question; without a terminal, --yes is needed). --dry-run shows what it would delete.",
        "qs-jwt qscloud idp retire --tenant your-tenant.eu.qlikcloud.com --api-key-file api-key.txt --issuer my-app "
        "--keep-kid NEW_KID",
        idp_commands,
    )
    it.add_argument("--issuer", required=True, help="the issuer")
    it.add_argument("--keep-kid", required=True, metavar="KID", help="the kid of the identity provider to keep")
    it.add_argument("--yes", action="store_true", help="do not ask")
    it.add_argument("--dry-run", action="store_true", help="show what would be deleted; delete nothing")
    it.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or json")
    _add_tenant(it)
    _add_api_key(it)

    oa = sub(
        "oauth", "get an OAuth access token: machine to machine, or impersonating a user",
        "OAuth access tokens from the tenant's token endpoint (POST /oauth/token).",
        "qs-jwt qscloud oauth token --tenant your-tenant.eu.qlikcloud.com --client-id ID --client-secret-file "
        "secret.txt",
    )
    oa_commands = oa.add_subparsers(dest="oauth_command", metavar="SUBCOMMAND", parser_class=_Parser)
    ot = sub(
        "token", "get an access token (client secret or private key JWT; M2M or impersonation)",
        "Get an access token for the OAuth client --client-id, authenticated by its secret (--client-secret-file or\n"
        "$QLIK_OAUTH_CLIENT_SECRET) or by private key JWT (--assertion-keyid with the key: a fresh assertion per\n"
        "request). Grant client_credentials, or user impersonation with --impersonate-sub, --impersonate-email or\n"
        "--impersonate-user-id. Prints {access_token, token_type, expires_at, scope}; --output token prints the\n"
        "bare token (printing it is this command's purpose). A refusal exits 4 with Qlik's words and the fix.",
        "qs-jwt qscloud oauth token --tenant your-tenant.eu.qlikcloud.com --client-id ID --assertion-keyid my-key "
        "--cert-privatekey-file privatekey.pem --impersonate-sub alice-42 --scope user_default",
        oa_commands,
    )
    ot.add_argument("--output", choices=["json", "token"], default="json",
                    help="json (default) or token: the access token alone")
    _add_tenant(ot)
    _add_oauth_client(ot, "the OAuth client", user=True, signing=True)
    g = ot.add_argument_group("signing key of the private key JWT (else $QS_JWT_PRIVATE_KEY)")
    _add_signing_key(g)

    mc = sub(
        "multicloud", "decode a QSEoW deployment's bearer token; create a multi-cloud identity provider",
        "Multi-cloud identity providers (protocol qsefw-local-bearer-token) from the bearer token a QSEoW deployment\n"
        "gives in \"Qlik Cloud format\" (QMC: Cloud distribution, Deployment setup).",
        "qs-jwt qscloud multicloud decode --bearer-token @bearer-token.txt",
    )
    mc_commands = mc.add_subparsers(dest="mc_command", metavar="SUBCOMMAND", parser_class=_Parser)
    md = sub(
        "decode", "print what a bearer token holds: issuer, hostname, kid, keys",
        "Print the JSON inside a bearer token: issuer, hostname, kid, realm, primary, and for each static key its PEM\n"
        "type, key type, size and RFC 7638 thumbprint (and the decoded JSON itself).",
        "qs-jwt qscloud multicloud decode --bearer-token @bearer-token.txt",
        mc_commands,
    )
    md.add_argument("--bearer-token", required=True, metavar="B64|@FILE",
                    help="the token: its text, @FILE, or @- for standard input")
    mk = sub(
        "create", "make the bearer token for another tenant and create the multi-cloud identity provider",
        "Build the bearer token for --hostname from an existing one (its issuer, kid and PEM kept, the hostname\n"
        "replaced), and the identity provider body {base64Encoded, interactive: false, protocol\n"
        "qsefw-local-bearer-token, description, provider qlik, tenantIds}; print it with --dry-run, else create it\n"
        "with the API key. --hostname defaults to the host of --tenant.",
        "qs-jwt qscloud multicloud create --from-bearer-token @bearer-token.txt --tenant "
        "other-tenant.eu.qlikcloud.com --api-key-file api-key.txt",
        mc_commands,
    )
    g = mk.add_argument_group("the identity provider")
    g.add_argument("--from-bearer-token", required=True, metavar="B64|@FILE",
                   help="a bearer token of the QSEoW site: its text, @FILE, or @- for standard input")
    g.add_argument("--hostname", metavar="HOST", help="the tenant the new token is for (default: the host of --tenant)")
    g.add_argument("--tenant-id", metavar="ID", help="the tenant's id (default: from GET /api/v1/users/me)")
    g.add_argument("--description")
    g.add_argument("--dry-run", action="store_true", help="print the body, send nothing")
    _add_tenant(mk, required=False)
    _add_api_key(mk)


def _add_new_key(parser: argparse.ArgumentParser, *, private: bool) -> None:
    g = parser.add_argument_group("the new key (make it with --cert-file-prefix, or bring its files)")
    g.add_argument("--cert-file-prefix", metavar="PREFIX",
                   help="make a new key pair and certificate: PREFIXprivatekey.pem, PREFIXpublickey.pem, "
                        "PREFIXpublickey.cer (existing files are never replaced)")
    g.add_argument("--cert-create-expires-days", type=int, metavar="DAYS",
                   help="validity of the new certificate in days (default 1825)")
    g.add_argument("--cert-create-key-size", type=int, default=4096, choices=[2048, 3072, 4096],
                   metavar="2048|3072|4096", help="RSA key size (default 4096)")
    g.add_argument("--cert-create-cn", default="qs-jwt", metavar="CN", help="certificate common name (default qs-jwt)")
    g.add_argument("--new-cert-file" if private else "--cert-file", dest="new_cert_file", metavar="FILE",
                   help="or the new key's certificate (PEM, DER or PKCS#12)")
    if private:
        g.add_argument("--new-private-key-file", metavar="FILE", help="and the new private key (to check and log in)")
        g.add_argument("--cert-privatekey-passphrase-file", metavar="FILE",
                       help="passphrase of an encrypted --new-private-key-file")


def _clock_tolerance(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 3600:
        raise UsageError("--clock-tolerance: expected whole seconds from 0 to 3600")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qs-jwt`` with ``argv`` (default: the process arguments); return the exit code."""
    args_list = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    if args_list[:1] == ["help"]:  # the Node tool's `qs-jwt help COMMAND`
        args_list = [*args_list[1:], "--help"]
    profile_warnings: list[str] = []
    injected: dict[str, str] = {}
    try:
        from ._profiles import inject, split_profile_option

        args_list, profile = split_profile_option(args_list)
        parser = build_parser(_command_named(args_list) or "")  # "": the command list alone (--help, no command)
        if _command_named(args_list) not in (None, "profile"):  # the profile commands read the file themselves
            args_list, profile_warnings, injected = inject(parser, args_list, profile, build_parser)
        try:
            args, extras = parser.parse_known_args(args_list)
        except UsageError:
            typos = _unknown_options(parser, args_list)  # a typo explains more than a missing option
            if typos:
                raise UsageError(typos) from None
            raise
        if extras:
            raise UsageError(_unknown_arguments(parser, args, extras))
    except UsageError as exc:
        _print_error(f"{PROG}: error: {exc}")
        if injected:
            _print_error(f"{PROG}: values given by the environment or a profile: {', '.join(injected.values())}")
        return ExitCode.USAGE
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    args.loglevel = (getattr(args, "loglevel", None) or getattr(args, "loglevel_group", None) or args.loglevel_global
                     or "info")
    args.injected = injected
    args.profile_warnings = profile_warnings
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    args.command_path = " ".join(str(part) for part in (
        args.command, getattr(args, "cert_command", None), getattr(args, "qseow_command", None),
        getattr(args, "vp_command", None), getattr(args, "qscloud_command", None), getattr(args, "idp_command", None),
        getattr(args, "mc_command", None), getattr(args, "dp_command", None), getattr(args, "multicloud_command",
                                                                                     None),
        getattr(args, "profile_command", None), getattr(args, "oauth_command", None),
        getattr(args, "batch_command", None)) if part)
    if (args.command == "qseow" and (args.qseow_command is None or
                                     (args.qseow_command == "virtual-proxy" and args.vp_command is None) or
                                     (args.qseow_command == "deployment" and args.dp_command is None))) or (
            args.command == "multicloud" and args.multicloud_command is None) or (
            args.command == "profile" and args.profile_command is None):
        _print_error(f"{PROG} {args.command_path}: error: choose a subcommand (see '{PROG} {args.command_path} "
                     "--help')")
        return ExitCode.USAGE
    if args.command == "qscloud" and (getattr(args, "qscloud_command", None) is None or
                                      (args.qscloud_command == "idp" and args.idp_command is None) or
                                      (args.qscloud_command == "multicloud" and args.mc_command is None) or
                                      (args.qscloud_command == "oauth" and args.oauth_command is None)):
        _print_error(f"{PROG} {args.command_path}: error: choose a subcommand (see '{PROG} {args.command_path} "
                     "--help')")
        return ExitCode.USAGE
    if args.command == "cert" and args.cert_command is None:
        _print_error(f"{PROG} cert: error: choose a subcommand: create, show, jwks or check "
                     "(see 'qs-jwt cert --help')")
        return ExitCode.USAGE
    from ._run import run

    return run(_command(args), args)


def _command(args: argparse.Namespace) -> Any:
    """The function that runs the parsed command (its module is imported only now)."""
    if args.command in ("create-qscloud", "create-qseow"):
        from ._create import create

        return create
    if args.command == "batch":
        from ._batch import run_batch

        return run_batch
    if args.command == "create-client-assertion":
        from ._oauth import client_assertion

        return client_assertion
    if args.command in ("decode", "check"):
        from . import _inspect

        return _inspect.decode if args.command == "decode" else _inspect.check
    if args.command == "qseow":
        from . import _qseow

        if args.qseow_command == "deployment":
            from . import _multicloud

            return {"create": _multicloud.deployment_create,
                    "bearer-token": _multicloud.deployment_bearer_token}[args.dp_command]
        if args.qseow_command == "virtual-proxy":
            if args.vp_command == "rotate-cert":
                from . import _rotate

                return _rotate.vp_rotate_cert
            return {"create": _qseow.vp_create, "list": _qseow.vp_list, "check": _qseow.vp_check}[args.vp_command]
        return {"call": _qseow.call, "server-cert": _qseow.server_cert,
                "qlik-cli-context": _qseow.qlik_cli_context}[args.qseow_command]
    if args.command == "profile":
        from . import _profiles

        return _profiles.profile_list if args.profile_command == "list" else _profiles.profile_show
    if args.command == "multicloud":
        from . import _multicloud

        return _multicloud.setup
    if args.command == "qscloud":
        from . import _qscloud

        if args.qscloud_command == "idp":
            if args.idp_command in ("rotate", "retire"):
                from . import _rotate

                return _rotate.idp_rotate if args.idp_command == "rotate" else _rotate.idp_retire
            return {"create": _qscloud.idp_create, "list": _qscloud.idp_list, "get": _qscloud.idp_get,
                    "delete": _qscloud.idp_delete, "check": _qscloud.idp_check}[args.idp_command]
        if args.qscloud_command == "multicloud":
            return {"decode": _qscloud.mc_decode, "create": _qscloud.mc_create}[args.mc_command]
        if args.qscloud_command == "oauth":
            from . import _oauth

            return _oauth.oauth_token
        return {"login": _qscloud.login, "call": _qscloud.call}[args.qscloud_command]
    from . import _cert

    return {"create": _cert.create, "show": _cert.show, "jwks": _cert.jwks, "check": _cert.check}[args.cert_command]


#: what is shown of an unknown argument: a long option's name, or a short one (-x); a pasted "-Secret9x" is not
#: the commands, for finding which one a command line runs before the parser is built
COMMANDS = ("create-qscloud", "create-qseow", "decode", "check", "cert", "qseow", "qscloud", "multicloud", "profile",
            "create-client-assertion", "batch")


def _command_named(argv: list[str]) -> str | None:
    """The command ``argv`` runs (the first word that is one), or None."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--loglevel":
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


_OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]{0,38}|-[A-Za-z]")


#: where the parser keeps each level of a command path, outermost first (one path is set at a time)
_COMMAND_DESTS = ("command", "cert_command", "qseow_command", "vp_command", "dp_command", "qscloud_command",
                  "idp_command", "mc_command", "oauth_command", "multicloud_command", "profile_command",
                  "batch_command")


def _unknown_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> str:
    """Name the unknown options (with the closest known one), never their values: a mistyped
    --cert-privatekey carries a key."""
    command = [c for c in (getattr(args, name, None) for name in _COMMAND_DESTS) if c]
    where = " ".join([PROG, *command])
    known = _option_strings(parser, command)
    names = []
    for extra in extras:
        name = extra.split("=", 1)[0]
        if _OPTION_NAME.fullmatch(name):
            names.append(name + _closest(name, known))
    values = len(extras) - len(names)
    what = ", ".join(names) + (" and " if names and values else "") + (
        f"{values} value(s) without an option" if values else "")
    return f"unrecognized arguments: {what} (see '{where} --help')"


def _unknown_options(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The unknown ``--options`` of a command line argparse refused for another reason, or None."""
    command: list[str] = []
    current = parser
    for word in argv:
        if word == "--":
            break
        sub = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is not None and word in sub.choices:
            command.append(word)
            current = sub.choices[word]
    if not command:
        return None  # the unknown command is the news
    known = set(_option_strings(parser, command)) | set(_option_strings(parser, []))
    unknown = [t.split("=", 1)[0] for t in argv if t.startswith("--") and t != "--" and t.split("=", 1)[0] not in known]
    if not unknown:
        return None
    names = ", ".join(name + _closest(name, sorted(known)) for name in unknown if _OPTION_NAME.fullmatch(name))
    return f"unrecognized arguments: {names} (see '{' '.join([PROG, *command])} --help')" if names else None


def _option_strings(parser: argparse.ArgumentParser, command: list[str]) -> list[str]:
    current = parser
    for name in command:
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                current = action.choices[name]
                break
    return [flag for action in current._actions for flag in action.option_strings if flag.startswith("--")]


def _closest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


#: options whose value may start with '-' ("--expires -5m" is refused by the library with a clear message,
#: rather than by argparse as a missing value)
_DASH_VALUE_OPTIONS = ("--expires", "--leeway", "--cert-create-expires-days", "--days")


def _join_negative_values(argv: list[str]) -> list[str]:
    result: list[str] = []
    i = 0
    while i < len(argv):
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] in _DASH_VALUE_OPTIONS and value[:1] == "-" and (value[1:2].isdigit() or value[1:2] == "."):
            result.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        result.append(argv[i])
        i += 1
    return result


def _print_error(line: str) -> None:
    from ._run import clean_message

    try:
        sys.stderr.write(clean_message(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
