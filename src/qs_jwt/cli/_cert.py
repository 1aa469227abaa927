"""``cert create``, ``cert show``, ``cert jwks`` and ``cert check``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import KeyLoadError, OutputExistsError
from ..redact import redact
from ._common import ENV_PASSPHRASE, ExitCode, UsageError, article
from ._io import emit, read_input, read_passphrase, to_json
from ._run import Log, safe_text

if TYPE_CHECKING:
    from ..certs import KeyFiles, KeyInfo

PASSPHRASE_FLAG = "--passphrase-file"  # noqa: S105 - an option name


def create(args: argparse.Namespace, log: Log) -> int:
    from ..certs import create_key_files

    if args.cert_create_expires_days is None:
        raise UsageError("--cert-create-expires-days (or --days) is required: the certificate's validity in days")
    passphrase = None
    if args.passphrase_file is not None:
        passphrase = read_passphrase(PASSPHRASE_FLAG, args.passphrase_file, log, use_env=False, new_key=True)
    try:
        files = create_key_files(
            args.cert_file_prefix,
            days=args.cert_create_expires_days,
            key_size=args.cert_create_key_size,
            common_name=args.cert_create_cn,
            passphrase=passphrase,
            force=args.force,
            on_generate=lambda: log.info(f"creating a {args.cert_create_key_size}-bit RSA key pair and certificate "
                                         "..."),
        )
    except OutputExistsError as exc:
        raise OutputExistsError(exc.paths, hint="--force replaces them; then the certificate configured in Qlik "
                                                "must be replaced too") from None
    summary = created_summary(files, args.cert_create_cn)
    written = ", ".join((files.private_key_path, files.public_key_path, files.certificate_path))
    if args.output == "json":
        emit(to_json(summary), written=written)
    else:
        log_created(summary, log)
    return ExitCode.OK


def _with_passphrase_hint(exc: KeyLoadError) -> KeyLoadError:
    if exc.passphrase_required:
        return KeyLoadError(f"{exc.reason}: give it with {PASSPHRASE_FLAG} FILE or ${ENV_PASSPHRASE}",
                            source=exc.source, code=exc.code)
    return exc


def created_summary(files: KeyFiles, common_name: str) -> dict[str, object]:
    """What ``cert create`` and ``--cert-create`` made, as reported (never the key itself)."""
    from ..keys import jwk_thumbprint

    return {
        "privateKey": files.private_key_path,
        "publicKey": files.public_key_path,
        "certificate": files.certificate_path,
        "encrypted": files.encrypted,
        "keySize": files.private_key.key_size,
        "commonName": common_name,
        "notBefore": files.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notAfter": files.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "thumbprint": jwk_thumbprint(files.private_key.public_key()),
    }


def log_created(summary: dict[str, object], log: Log) -> None:
    encrypted = ", encrypted" if summary["encrypted"] else ""
    log.info(f"private key:  {summary['privateKey']} (mode 0600{encrypted}; keep it secret)")
    log.info(f"public key:   {summary['publicKey']}")
    log.info(f"certificate:  {summary['certificate']} (CN={redact(str(summary['commonName']))}, valid "
             f"{summary['notBefore']} to {summary['notAfter']})")
    log.info(f"thumbprint:   {summary['thumbprint']} (usable as the key id)")


def _read(args: argparse.Namespace) -> tuple[bytes, str]:
    return read_input(f"cert {args.cert_command} FILE", args.file, what="key or certificate",
                      alternative=", or '-' to read standard input")


def _describe(args: argparse.Namespace, log: Log) -> KeyInfo:
    from ..certs import describe_key_material

    passphrase = read_passphrase(PASSPHRASE_FLAG, args.passphrase_file, log)
    data, source = _read(args)
    try:
        return describe_key_material(data, source=source, passphrase=passphrase)
    except KeyLoadError as exc:
        raise _with_passphrase_hint(exc) from None


def show(args: argparse.Namespace, log: Log) -> int:
    info = _describe(args, log)
    data = info.to_dict()
    if args.output == "json":
        emit(to_json(data))
        return ExitCode.OK
    labels = (
        ("kind", "Kind"), ("keyType", "Key type"), ("keySize", "Key size"), ("publicExponent", "Exponent"),
        ("encrypted", "Encrypted"), ("subject", "Subject"), ("issuer", "Issuer"), ("serialNumber", "Serial"),
        ("notBefore", "Not before"), ("notAfter", "Not after"), ("signatureHash", "Signature hash"),
        ("sha256Fingerprint", "SHA-256 fingerprint"), ("thumbprint", "Thumbprint (RFC 7638, a good kid)"),
    )
    lines = []
    for field, label in labels:
        value = data.get(field)
        if value is None or (field == "encrypted" and not value) or (field == "keySize" and not value):
            continue
        if field == "keySize":
            value = f"{value} bits"
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"{label}: {safe_text(str(value))}")
    if info.key_type != "RSA":
        lines.append(f"One-line PEM ({article(info.key_type)} key: Qlik JWTs need RSA):")
    elif info.certificate is not None:
        lines.append("One-line PEM (the certificate, for Qlik Cloud's identity provider):")
    else:
        lines.append("One-line PEM (the public key; Qlik documents a certificate for its identity provider, "
                     "e.g. the publickey.cer that cert create writes):")
    lines.append(data["pem"])
    emit("\n".join(lines))
    return ExitCode.OK


def jwks(args: argparse.Namespace, log: Log) -> int:
    """The public key(s) as a JWK set: read as ``decode`` reads a verification key, so what it refuses is
    refused here too."""
    from ..keys import load_verification_keys, public_jwk

    if args.kid is not None and not args.kid.strip():
        raise UsageError("--kid must not be empty")
    passphrase = read_passphrase(PASSPHRASE_FLAG, args.passphrase_file, log)
    data, source = _read(args)
    try:
        keys = load_verification_keys(data, source=source, passphrase=passphrase)
    except KeyLoadError as exc:
        raise _with_passphrase_hint(exc) from None
    if args.kid is not None and len(keys) > 1:
        raise UsageError(f"--kid names one key; the file holds {len(keys)}")
    jwks = [public_jwk(k.key, kid=args.kid if args.kid is not None else k.kid, alg=k.alg or args.alg) for k in keys]
    if getattr(args, "use", None) == "sig":  # the single JWK an OAuth client's public key form takes
        if len(jwks) != 1:
            raise UsageError(f"--use sig prints one JWK; the file holds {len(jwks)} keys")
        emit(to_json({name: jwks[0][name] for name in ("kid", "kty", "alg", "use", "n", "e") if name in jwks[0]}))
        return ExitCode.OK
    emit(to_json({"keys": jwks}))
    return ExitCode.OK


def check(args: argparse.Namespace, log: Log) -> int:
    from ..checks import check_key_material

    passphrase = read_passphrase(PASSPHRASE_FLAG, args.passphrase_file, log)
    data, source = _read(args)
    try:
        report = check_key_material(data, source=source, passphrase=passphrase,
                                    path=args.file if args.file != "-" else None)
    except KeyLoadError as exc:
        raise _with_passphrase_hint(exc) from None
    if args.output == "json":
        emit(to_json(report.to_dict()))
    else:
        lines = []
        for finding in report.findings:
            lines.append(f"{finding.severity.upper()}: {safe_text(finding.message)}")
            lines.append(f"  fix: {safe_text(finding.fix)}")
        lines.append("OK: the key passes every check" if report.ok and not report.findings else
                     f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        emit("\n".join(lines))
    return ExitCode.OK if report.ok else ExitCode.VERIFY
