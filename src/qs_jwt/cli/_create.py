"""``create-qscloud`` and ``create-qseow``: one path, two ways to build the settings and the user."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..claims import (
    QsCloudSettings,
    QsCloudUser,
    QseowSettings,
    QseowUser,
    parse_claim_assignment,
)
from ..errors import KeyLoadError
from ..keys import load_private_key
from ..tokens import Signer, Token, qscloud_token_parts, qseow_token_parts
from ._common import ENV_PASSPHRASE, ENV_PRIVATE_KEY, ExitCode, UsageError
from ._io import emit, private_key_input, read_passphrase, to_json, warn_if_readable_by_others
from ._run import Log

PASSPHRASE_FLAG = "--cert-privatekey-passphrase-file"  # noqa: S105 - an option name
#: --cert-create options and their defaults, warned about when given without --cert-create
_CERT_CREATE_OPTIONS = (
    ("--cert-create-expires-days", "cert_create_expires_days", None),
    ("--cert-file-prefix", "cert_file_prefix", ""),
    ("--cert-create-key-size", "cert_create_key_size", 4096),
    ("--cert-create-cn", "cert_create_cn", "qs-jwt"),
    ("--force", "force", False),
)


def _extra_claims(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in args.claim:
        name, value = parse_claim_assignment(item)
        if name in extra:
            raise UsageError(f"--claim {name!r} is given more than once")
        extra[name] = value
    return extra


def _groups(args: argparse.Namespace, log: Log) -> list[str] | None:
    for group in args.groups or ():
        if "," in group:
            log.warn("--groups: a comma does not separate groups; give them as separate values: "
                     "--groups Sales Finance (quote a name with spaces)")
            break
    return args.groups  # type: ignore[no-any-return]


Parts = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


def qscloud_parts(args: argparse.Namespace, log: Log) -> tuple[Parts, tuple[str, ...]]:
    extra = _extra_claims(args)
    if "group" in extra:
        log.warn("Qlik Cloud does not read a 'group' claim; use --groups, which sends the 'groups' array")
    settings = QsCloudSettings(issuer=args.issuer, keyid=args.keyid, expires=args.expires, algorithm=args.algorithm,
                               allow_long_lifetime=getattr(args, "allow_long_lifetime", False))
    user = QsCloudUser(sub=args.sub, name=args.username, email=args.useremail,
                       email_verified=args.useremail_verified, groups=_groups(args, log), extra_claims=extra)
    return (lambda: qscloud_token_parts(settings, user)), settings.warnings + user.warnings


def qseow_parts(args: argparse.Namespace, log: Log) -> tuple[Parts, tuple[str, ...]]:
    if args.groups and args.groups_claim is None:
        log.verbose("groups go into the claim 'groups'; the Node qs-jwt used 'group': add --groups-claim group "
                    "if the virtual proxy maps 'group'")
    settings = QseowSettings(audience=args.audience, expires=args.expires, algorithm=args.algorithm,
                             userid_claim=args.userid_claim, userdir_claim=args.userdir_claim,
                             groups_claim="groups" if args.groups_claim is None else args.groups_claim)
    user = QseowUser(user_id=args.userid, user_directory=args.userdir, name=args.username, email=args.useremail,
                     groups=_groups(args, log), extra_claims=_extra_claims(args))
    return (lambda: qseow_token_parts(settings, user)), settings.warnings + user.warnings


def create(args: argparse.Namespace, log: Log) -> int:
    """Both create commands: every value checked, then the key (made or loaded), then one signature."""
    if args.minimal_output and args.output == "json":
        raise UsageError("--minimal-output prints the bare token; it cannot be combined with --output json")
    parts, warnings = (qscloud_parts if args.command == "create-qscloud" else qseow_parts)(args, log)
    signer, written = _new_key_signer(args, log) if args.cert_create == "true" else (signer_for(args, log), None)
    header, payload = parts()
    token = Token(signer.sign(header, payload), header, payload, warnings)
    log.warnings(token.warnings)
    log.debug(f"header: {to_json(header, indent=None)}")
    log.debug(f"payload claims: {', '.join(payload)}")
    emit(to_json(token.to_dict()) if args.output == "json" else token.token, written=written)
    return ExitCode.OK


def _new_key_signer(args: argparse.Namespace, log: Log) -> tuple[Signer, str]:
    """--cert-create: a new key pair and certificate, written safely, and a signer for the new key."""
    from ..certs import create_key_files, key_file_paths
    from ..errors import OutputExistsError
    from ._cert import created_summary, log_created

    if args.cert_create_expires_days is None:
        raise UsageError("--cert-create needs --cert-create-expires-days (validity of the certificate in days)")
    if args.cert_privatekey is not None or args.cert_privatekey_file is not None:
        log.warn("--cert-create makes a new key; the given private key is not used")
    # the passphrase option names the key's passphrase: a new key is written encrypted with it
    passphrase = read_passphrase(PASSPHRASE_FLAG, args.cert_privatekey_passphrase_file, log, use_env=False,
                                 new_key=True)
    prefix = args.cert_file_prefix
    try:
        files = create_key_files(prefix, days=args.cert_create_expires_days, key_size=args.cert_create_key_size,
                                 common_name=args.cert_create_cn, passphrase=passphrase, force=args.force,
                                 on_generate=lambda: log.info(f"creating a {args.cert_create_key_size}-bit RSA key "
                                                              "pair and certificate ..."))
    except OutputExistsError as exc:
        raise OutputExistsError(exc.paths, hint=(
            f"to sign with the existing key, use --cert-privatekey-file {key_file_paths(prefix)[0]}; --force "
            "replaces the key pair, and then the certificate configured in Qlik must be replaced too")) from None
    log_created(created_summary(files, args.cert_create_cn), log)
    written = ", ".join((files.private_key_path, files.public_key_path, files.certificate_path))
    return Signer(files.private_key), written


def signer_for(args: argparse.Namespace, log: Log) -> Signer:
    """A signer for the key the options or $QS_JWT_PRIVATE_KEY give."""
    ignored = [flag for flag, name, default in _CERT_CREATE_OPTIONS  # only where --cert-create is an option
               if hasattr(args, "cert_create") and getattr(args, name, default) != default]
    if ignored:
        log.warn(f"{', '.join(ignored)} only {'applies' if len(ignored) == 1 else 'apply'} with --cert-create; "
                 "ignored")
    source = private_key_input(args, log)
    if source is None:
        raise UsageError("no signing key: give --cert-privatekey-file FILE, "
                         + (f"set ${ENV_PRIVATE_KEY}, or use --cert-create" if hasattr(args, "cert_create") else
                            f"or set ${ENV_PRIVATE_KEY}"))
    data, name = source
    passphrase = read_passphrase(PASSPHRASE_FLAG, args.cert_privatekey_passphrase_file, log)
    try:
        key = load_private_key(data, passphrase=passphrase, source=name)
    except KeyLoadError as exc:
        if exc.passphrase_required:
            raise KeyLoadError(f"{exc.reason}: give it with {PASSPHRASE_FLAG} FILE or ${ENV_PASSPHRASE}",
                               source=exc.source, code=exc.code) from None
        raise
    if args.cert_privatekey is None and args.cert_privatekey_file not in (None, "-"):
        warn_if_readable_by_others(args.cert_privatekey_file, log)
    exponent = key.public_key().public_numbers().e
    if exponent != 65537:
        log.warn(f"{name}: the RSA public exponent is {exponent}, not 65537; create a new key (qs-jwt cert create)")
    log.verbose(f"signing with the {key.key_size}-bit RSA key from {name}")
    return Signer(key)
