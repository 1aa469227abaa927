"""``create-qscloud`` and ``create-qseow``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..claims import parse_claim_assignment
from ..tokens import Signer, Token, qscloud_token_parts, qseow_token_parts
from . import EXIT_OK, UsageError
from ._io import ENV_PRIVATE_KEY, emit, private_key_input, read_passphrase, to_json
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

    create = args.cert_create == "true"
    if create:
        from ..certs import create_key_files, validate_days

        if args.cert_create_expires_days is None:
            raise UsageError("--cert-create needs --cert-create-expires-days (validity of the certificate in days)")
        validate_days(args.cert_create_expires_days)
        if args.cert_privatekey is not None or args.cert_privatekey_file is not None:
            log.warn("--cert-create makes a new key; the given private key is not used")
        validate()  # every claim value is checked before a key is generated or a file written
        from .._files import check_outputs
        from ..certs import key_file_paths

        check_outputs(list(key_file_paths(args.cert_file_prefix)), force=args.force)
        log.info(f"creating a {args.cert_create_key_size}-bit RSA key pair and certificate ...")
        files = create_key_files(
            args.cert_file_prefix,
            days=int(args.cert_create_expires_days),
            key_size=args.cert_create_key_size,
            common_name=args.cert_create_cn,
            force=args.force,
        )
        from ._cert import created_summary, log_created

        log_created(created_summary(files, args.cert_create_cn), log)
        return Signer(files.private_key)
    if args.cert_create_expires_days is not None:
        log.warn("--cert-create-expires-days has no effect without --cert-create")
    validate()
    source = private_key_input(args, log)
    if source is None:
        raise UsageError(
            f"no signing key: give --cert-privatekey-file FILE, set ${ENV_PRIVATE_KEY}, or use --cert-create"
        )
    data, name = source
    passphrase = read_passphrase(args.cert_privatekey_passphrase_file, log)
    key = load_private_key(data, passphrase=passphrase, source=name)
    log.verbose(f"signing with the {key.key_size}-bit RSA key from {name}")
    return Signer(key)


def _finish(args: argparse.Namespace, log: Log, signer: Signer, parts: Parts) -> int:
    header, payload = parts()
    token = Token(signer.sign(header, payload), header, payload)
    log.debug(f"header: {to_json(header, indent=None)}")
    log.debug(f"payload claims: {', '.join(payload)}")
    if args.output == "json" and not args.minimal_output:
        emit(to_json(token.to_dict()))
    else:
        if args.output == "json":
            log.warn("--minimal-output overrides --output json")
        emit(token.token)
    return EXIT_OK


def create_qscloud(args: argparse.Namespace, log: Log) -> int:
    extra = _extra_claims(args)

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
    extra = _extra_claims(args)

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
            groups_claim=args.groups_claim,
            extra_claims=extra,
            algorithm=args.algorithm,
        )

    return _finish(args, log, _signer(args, log, parts), parts)
