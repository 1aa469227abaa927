"""``create-qscloud`` and ``create-qseow``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..claims import parse_claim_assignment
from ..errors import KeyLoadError
from ..tokens import Signer, Token, qscloud_token_parts, qseow_token_parts
from . import EXIT_OK, UsageError
from ._io import (
    ENV_PASSPHRASE,
    ENV_PRIVATE_KEY,
    emit,
    private_key_input,
    read_passphrase,
    to_json,
    warn_if_readable_by_others,
)
from ._run import Log

Parts = Callable[[], tuple[dict[str, Any], dict[str, Any]]]
Validate = Callable[[], object]


def _extra_claims(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in args.claim:
        name, value = parse_claim_assignment(item)
        if name in extra:
            raise UsageError(f"--claim {name} is given more than once")
        extra[name] = value
    return extra


def _signer(args: argparse.Namespace, log: Log, validate: Validate) -> Signer:
    """The signer from a new key (--cert-create) or an existing one; all values validated first."""
    from ..keys import load_private_key

    if args.cert_create == "true":
        from ..certs import create_key_files, key_file_paths, validate_common_name, validate_days

        if args.cert_create_expires_days is None:
            raise UsageError("--cert-create needs --cert-create-expires-days (validity of the certificate in days)")
        days = validate_days(args.cert_create_expires_days)
        validate_common_name(args.cert_create_cn)
        if args.cert_privatekey is not None or args.cert_privatekey_file is not None:
            log.warn("--cert-create makes a new key; the given private key is not used")
        validate()  # every claim value is checked before a key is generated or a file written
        from ._cert import check_new_files, created_summary, log_created

        prefix = args.cert_file_prefix
        check_new_files(prefix, args.force, hint=(
            f"to sign with the existing key, use --cert-privatekey-file {key_file_paths(prefix)[0]}; --force "
            "replaces the key pair, and then the certificate configured in Qlik must be replaced too"))
        # the passphrase option names the key's passphrase: a new key is written encrypted with it
        passphrase = read_passphrase(args.cert_privatekey_passphrase_file, log, use_env=False)
        log.info(f"creating a {args.cert_create_key_size}-bit RSA key pair and certificate ...")
        files = create_key_files(prefix, days=days, key_size=args.cert_create_key_size,
                                 common_name=args.cert_create_cn, passphrase=passphrase, force=args.force)
        log_created(created_summary(files, args.cert_create_cn), log)
        return Signer(files.private_key)
    ignored = [flag for flag, given in (
        ("--cert-create-expires-days", args.cert_create_expires_days is not None),
        ("--cert-file-prefix", bool(args.cert_file_prefix)),
        ("--cert-create-key-size", args.cert_create_key_size != 4096),
        ("--cert-create-cn", args.cert_create_cn != "qs-jwt"),
        ("--force", args.force),
    ) if given]
    if ignored:
        log.warn(f"{', '.join(ignored)} only {'applies' if len(ignored) == 1 else 'apply'} with --cert-create; "
                 "ignored")
    validate()
    source = private_key_input(args, log)
    if source is None:
        raise UsageError(
            f"no signing key: give --cert-privatekey-file FILE, set ${ENV_PRIVATE_KEY}, or use --cert-create"
        )
    data, name = source
    passphrase = read_passphrase(args.cert_privatekey_passphrase_file, log)
    try:
        key = load_private_key(data, passphrase=passphrase, source=name)
    except KeyLoadError as exc:
        if exc.passphrase_required:
            raise KeyLoadError(f"{exc.reason}: give it with --cert-privatekey-passphrase-file FILE or "
                               f"${ENV_PASSPHRASE}", source=exc.source) from None
        raise
    if args.cert_privatekey is None and args.cert_privatekey_file not in (None, "-"):
        warn_if_readable_by_others(args.cert_privatekey_file, log)
    if key.public_key().public_numbers().e != 65537:
        log.warn(f"{name}: the RSA public exponent is {key.public_key().public_numbers().e}, not 65537; "
                 "create a new key (qs-jwt cert create)")
    log.verbose(f"signing with the {key.key_size}-bit RSA key from {name}")
    return Signer(key)


def _finish(args: argparse.Namespace, log: Log, signer: Signer, parts: Parts) -> int:
    header, payload = parts()
    token = Token(signer.sign(header, payload), header, payload)
    log.debug(f"header: {to_json(header, indent=None)}")
    log.debug(f"payload claims: {', '.join(payload)}")
    if args.output == "json":
        emit(to_json(token.to_dict()))
    else:
        emit(token.token)
    return EXIT_OK


def _check_output_options(args: argparse.Namespace) -> None:
    if args.minimal_output and args.output == "json":
        raise UsageError("--minimal-output prints the bare token; it cannot be combined with --output json")


def create_qscloud(args: argparse.Namespace, log: Log) -> int:
    _check_output_options(args)
    extra = _extra_claims(args)
    if "group" in extra:
        log.warn("Qlik Cloud does not read a 'group' claim; use --groups, which sends the 'groups' array")

    def parts() -> tuple[dict[str, Any], dict[str, Any]]:
        return qscloud_token_parts(
            issuer=args.issuer,
            keyid=args.keyid,
            expires=args.expires,
            sub=args.sub,
            email=args.useremail,
            email_verified=args.useremail_verified,
            name=args.username,
            groups=args.groups,
            extra_claims=extra,
            algorithm=args.algorithm,
            allow_long_lifetime=args.allow_long_lifetime,
        )

    import warnings

    def validate() -> None:
        with warnings.catch_warnings():  # warnings are shown once, when the token is made
            warnings.simplefilter("ignore")
            parts()

    return _finish(args, log, _signer(args, log, validate), parts)


def create_qseow(args: argparse.Namespace, log: Log) -> int:
    _check_output_options(args)
    extra = _extra_claims(args)
    if args.groups and args.groups_claim is None:
        log.info("groups go into the claim 'groups'; the Node qs-jwt used 'group': add --groups-claim group "
                 "if the virtual proxy maps 'group'")

    def parts() -> tuple[dict[str, Any], dict[str, Any]]:
        return qseow_token_parts(
            user_id=args.userid,
            user_directory=args.userdir,
            audience=args.audience,
            expires=args.expires,
            name=args.username,
            email=args.useremail,
            groups=args.groups,
            userid_claim=args.userid_claim,
            userdir_claim=args.userdir_claim,
            groups_claim=args.groups_claim or "groups",
            extra_claims=extra,
            algorithm=args.algorithm,
        )

    return _finish(args, log, _signer(args, log, parts), parts)
