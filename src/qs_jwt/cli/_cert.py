"""``cert create``, ``cert show``, ``cert jwks`` and ``cert check``."""

from __future__ import annotations

import argparse

from . import EXIT_OK, EXIT_VERIFY, UsageError
from ._io import emit, read_passphrase, safe_text, to_json
from ._run import Log


def create(args: argparse.Namespace, log: Log) -> int:
    from ..certs import create_key_files, validate_days
    from ..keys import jwk_thumbprint

    if args.cert_create_expires_days is None:
        raise UsageError("--cert-create-expires-days (or --days) is required: the certificate's validity in days")
    days = validate_days(args.cert_create_expires_days)
    passphrase = None
    if args.passphrase_file is not None:
        passphrase = read_passphrase(args.passphrase_file, log)
    from .._files import check_outputs
    from ..certs import key_file_paths

    check_outputs(list(key_file_paths(args.cert_file_prefix)), force=args.force)
    log.info(f"creating a {args.cert_create_key_size}-bit RSA key pair and certificate ...")
    files = create_key_files(
        args.cert_file_prefix,
        days=days,
        key_size=args.cert_create_key_size,
        common_name=args.cert_create_cn,
        passphrase=passphrase,
        force=args.force,
    )
    thumbprint = jwk_thumbprint(files.private_key.public_key())
    summary = {
        "privateKey": files.private_key_path,
        "publicKey": files.public_key_path,
        "certificate": files.certificate_path,
        "encrypted": files.encrypted,
        "keySize": files.private_key.key_size,
        "commonName": args.cert_create_cn,
        "notBefore": files.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notAfter": files.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "thumbprint": thumbprint,
    }
    if args.output == "json":
        emit(to_json(summary))
    else:
        log.info(f"private key:  {files.private_key_path} (mode 0600{', encrypted' if files.encrypted else ''}; "
                 "keep it secret)")
        log.info(f"public key:   {files.public_key_path}")
        log.info(f"certificate:  {files.certificate_path} (CN={safe_text(args.cert_create_cn)}, valid "
                 f"{summary['notBefore']} to {summary['notAfter']})")
        log.info(f"thumbprint:   {thumbprint} (usable as the key id)")
    return EXIT_OK


def _read(path: str) -> bytes:
    from ..keys import read_key_source

    return read_key_source(path, what="key or certificate")


def show(args: argparse.Namespace, log: Log) -> int:
    from ..certs import describe_key_material

    passphrase = read_passphrase(args.passphrase_file, log)
    info = describe_key_material(_read(args.file), source=args.file, passphrase=passphrase)
    data = info.to_dict()
    if args.output == "json":
        emit(to_json(data))
        return EXIT_OK
    labels = (
        ("kind", "Kind"), ("keyType", "Key type"), ("keySize", "Key size"), ("publicExponent", "Exponent"),
        ("encrypted", "Encrypted"), ("subject", "Subject"), ("issuer", "Issuer"), ("serialNumber", "Serial"),
        ("notBefore", "Not before"), ("notAfter", "Not after"), ("signatureHash", "Signature hash"),
        ("sha256Fingerprint", "SHA-256 fingerprint"), ("thumbprint", "Thumbprint (RFC 7638, a good kid)"),
    )
    lines = []
    for field, label in labels:
        value = data.get(field)
        if value is None or (field == "encrypted" and not value):
            continue
        if field == "keySize":
            value = f"{value} bits"
        lines.append(f"{label}: {safe_text(str(value))}")
    what = "certificate" if info.certificate is not None else "public key"
    lines.append(f"One-line PEM ({what}, for Qlik Cloud's identity provider):")
    lines.append(data["pem"])
    emit("\n".join(lines))
    return EXIT_OK


def jwks(args: argparse.Namespace, log: Log) -> int:
    from ..certs import describe_key_material
    from ..errors import KeyLoadError
    from ..keys import public_jwk

    info = describe_key_material(_read(args.file), source=args.file, passphrase=read_passphrase(None, log))
    if info.public_key is None:
        raise KeyLoadError(f"holds a {info.key_type} key; only RSA keys can sign Qlik JWTs", source=args.file)
    if args.kid is not None and not args.kid.strip():
        raise UsageError("--kid must not be empty")
    emit(to_json({"keys": [public_jwk(info.public_key, kid=args.kid, alg=args.alg)]}))
    return EXIT_OK


def check(args: argparse.Namespace, log: Log) -> int:
    from ..checks import check_key_material

    passphrase = read_passphrase(args.passphrase_file, log)
    report = check_key_material(_read(args.file), source=args.file, passphrase=passphrase,
                                path=args.file if args.file != "-" else None)
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
    return EXIT_OK if report.ok else EXIT_VERIFY
