"""``qscloud idp rotate``, ``qscloud idp retire`` and ``qseow virtual-proxy rotate-cert``: key rotation."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..errors import QlikApiError, QsJwtError
from ..qscloud import JWT_AUTH
from ..rotation import (
    check_rotation,
    create_rotated_identity_provider,
    identity_providers_to_retire,
    replace_virtual_proxy_certificate,
    rotation_state,
)
from ._common import ExitCode, UsageError
from ._io import emit, read_input, read_passphrase, shown_path, to_json
from ._qscloud import admin_client
from ._run import Log, safe_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..certs import KeyFiles


def confirm(question: str, yes: bool, log: Log) -> None:
    """Go on after ``question`` is answered yes at a terminal, or with ``--yes``; a refusal is a usage error."""
    if yes:
        return
    stdin = sys.stdin
    if stdin is None or not _is_terminal(stdin) or not _is_terminal(sys.stderr):
        raise UsageError(f"{question} (there is no terminal to ask: give --yes to go on)")
    try:
        sys.stderr.write(f"qs-jwt: {question} [y/N] ")
        sys.stderr.flush()
        answer = stdin.readline()
    except (OSError, ValueError):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed: nothing was changed")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _kid(idp: dict[str, Any]) -> str | None:
    options = idp.get("options") or {}
    keys = options.get("staticKeys") or [{}]
    kid = keys[0].get("kid") if isinstance(keys[0], dict) else None
    return kid if isinstance(kid, str) else None


# --- the new key -------------------------------------------------------------------------------------------


class _NewKey:
    """The new key pair: made now (--cert-file-prefix), or brought (--new-cert-file and --new-private-key-file)."""

    def __init__(self, args: argparse.Namespace, log: Log, *, need_private: bool) -> None:
        self.args, self.log = args, log
        self.files: KeyFiles | None = None
        self.private_key: RSAPrivateKey | None = None
        made = args.cert_file_prefix is not None
        brought = args.new_cert_file is not None or getattr(args, "new_private_key_file", None) is not None
        if made == brought:
            raise UsageError("give --cert-file-prefix PREFIX (make a new key pair) or the new key's files "
                             + ("(--new-cert-file and --new-private-key-file)" if need_private else "(--cert-file)"))
        self.made = made
        self.certificate: bytes | None = None
        if made and self._existing_pair(args.cert_file_prefix, need_private):
            self.made = False
        elif made:
            self.key_path = f"{args.cert_file_prefix}privatekey.pem"
            self.cert_path = f"{args.cert_file_prefix}publickey.cer"
        else:
            if args.new_cert_file is None or (need_private and args.new_private_key_file is None):
                raise UsageError("bring both --new-cert-file and --new-private-key-file (the minters sign with the "
                                 "private key; Qlik gets the certificate)" if need_private else
                                 "give --cert-file")
            flag = "--new-cert-file" if need_private else "--cert-file"
            self.certificate = read_input(flag, args.new_cert_file, what="certificate")[0]
            self.cert_path = shown_path(args.new_cert_file)
            self.key_path = shown_path(args.new_private_key_file) if need_private else ""
            if need_private:
                self._load_private(args.new_private_key_file)

    def _existing_pair(self, prefix: str, need_private: bool) -> bool:
        """The key files of an earlier run at ``prefix`` (all three there): used, not replaced. Some of them only:
        an error. None: False (they are made)."""
        import os

        from ..certs import check_key_files, key_file_paths
        from ..errors import OutputExistsError

        paths = key_file_paths(prefix)
        try:
            check_key_files(prefix)  # before anything is sent
        except OutputExistsError:
            if not all(os.path.isfile(path) for path in paths):
                raise
        else:
            return False
        self.log.info(f"using the key files an earlier run made: {paths[0]}, {paths[2]} (they are never replaced)")
        self.certificate = read_input("--cert-file-prefix", paths[2], what="certificate")[0]
        self.cert_path, self.key_path = paths[2], paths[0]
        if need_private:
            self._load_private(paths[0], flag="--cert-file-prefix")
        return True

    def _load_private(self, path: str, flag: str = "--new-private-key-file") -> None:
        from ..keys import load_private_key, load_public_key

        data, name = read_input(flag, path, what="private key")
        passphrase = read_passphrase("--cert-privatekey-passphrase-file", self.args.cert_privatekey_passphrase_file,
                                     self.log)
        self.private_key = load_private_key(data, passphrase=passphrase, source=name)
        assert self.certificate is not None
        public = load_public_key(self.certificate, source="--new-cert-file")
        if public.public_numbers() != self.private_key.public_key().public_numbers():
            raise UsageError("--new-cert-file is not the certificate of --new-private-key-file (the keys differ)")

    def make(self) -> bytes:
        """The certificate (PEM); with --cert-file-prefix, the key files are written now, safely."""
        if self.certificate is not None:
            return self.certificate
        from ..certs import create_key_files

        days = self.args.cert_create_expires_days or 1825
        files = create_key_files(self.args.cert_file_prefix, days=days, key_size=self.args.cert_create_key_size,
                                 common_name=self.args.cert_create_cn,
                                 on_generate=lambda: self.log.info(f"creating a {self.args.cert_create_key_size}-bit "
                                                                   "RSA key pair and certificate ..."))
        from cryptography.hazmat.primitives import serialization

        self.files = files
        self.private_key = files.private_key
        self.certificate = files.certificate.public_bytes(serialization.Encoding.PEM)
        self.key_path, self.cert_path = files.private_key_path, files.certificate_path
        self.log.info(f"wrote {files.private_key_path} (mode 0600), {files.public_key_path}, {files.certificate_path}")
        return self.certificate


# --- qscloud idp rotate --------------------------------------------------------------------------------------


def idp_rotate(args: argparse.Namespace, log: Log) -> int:
    new = _NewKey(args, log, need_private=True)
    with admin_client(args, log) as client:
        idps = client.identity_providers(protocol=JWT_AUTH)
        public = new.private_key.public_key() if new.private_key is not None else None
        state = rotation_state(idps, args.issuer, public, args.new_keyid)
        if state.status == "done":
            assert state.rotated is not None
            return _report_done(args, log, state.current, state.rotated)
        if args.dry_run:
            from ..keys import jwk_thumbprint

            thumbprint = jwk_thumbprint(public) if public is not None else None
            check_rotation(state, thumbprint, args.new_keyid or thumbprint, args.new_issuer)
            log.info(f"would create a JWT identity provider for {args.new_issuer or args.issuer!r} beside "
                     f"{state.current.get('id')!s} (kid {_kid(state.current)!r})"
                     + (f", with a new key written to {args.cert_file_prefix}privatekey.pem" if new.made else ""))
            emit_result(args, {"status": "dry-run", "issuer": args.issuer, "current": _summary(state.current)})
            return ExitCode.OK
        certificate = new.make()
        created, check = create_rotated_identity_provider(client, state, certificate, new_kid=args.new_keyid,
                                                          new_issuer=args.new_issuer)
    issuer = args.new_issuer or args.issuer
    kid = _kid(created)
    for finding in check.findings:
        log.warn(f"the new identity provider: {finding.message} (fix: {finding.fix})")
    verified = None
    if args.verify_sub is not None and check.ok:
        verified = _verify_login(args, log, new.private_key, issuer, kid)
    result = {"status": "rotated", "issuer": issuer, "newKid": kid, "identityProviderId": created.get("id"),
              "keyFile": new.key_path, "certificateFile": new.cert_path, "checked": check.ok, "loginVerified": verified,
              "current": _summary(state.current)}
    log.info(f"created the identity provider {created.get('id')!s} for {issuer!r} with the kid {kid!r}; the old one "
             f"({state.current.get('id')!s}, kid {_kid(state.current)!r}) still works")
    retire = (f"qs-jwt qscloud idp delete {state.current.get('id')!s}" if args.new_issuer else
              f"qs-jwt qscloud idp retire --issuer={args.issuer} --keep-kid={kid}")
    log.info(f"next: switch every token minter to --keyid={kid}"
             + (f" --issuer={issuer}" if args.new_issuer else "") + f" and the key {new.key_path}; then retire the "
             f"old one: {retire}")
    emit_result(args, result)
    return ExitCode.OK if check.ok and verified is not False else ExitCode.VERIFY


def emit_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The result: JSON with --output json, else one "name: value" line per field."""
    if getattr(args, "output", "json") == "json":
        emit(to_json(result))
        return
    lines = []
    for name, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = "; ".join(", ".join(f"{k} {v}" for k, v in item.items()) if isinstance(item, dict) else str(item)
                              for item in value) or "none"
        lines.append(f"{name}: {safe_text(str(value))}")
    emit("\n".join(lines))


def _summary(idp: dict[str, Any]) -> dict[str, Any]:
    return {"id": idp.get("id"), "kid": _kid(idp), "active": idp.get("active")}


def _report_done(args: argparse.Namespace, log: Log, current: dict[str, Any], rotated: dict[str, Any]) -> int:
    log.info(f"the rotation is made already: the identity provider {rotated.get('id')!s} (kid {_kid(rotated)!r}) "
             f"holds the new key beside {current.get('id')!s} (kid {_kid(current)!r}); nothing was created. Next: "
             f"switch the minters, then qs-jwt qscloud idp retire --issuer={args.issuer} --keep-kid={_kid(rotated)}")
    emit_result(args, {"status": "done", "issuer": args.issuer, "newKid": _kid(rotated),
                       "identityProviderId": rotated.get("id"), "current": _summary(current)})
    return ExitCode.OK


def _verify_login(args: argparse.Namespace, log: Log, private_key: Any, issuer: str, kid: str | None) -> bool:
    """Log in once with a fresh token from the new key (this creates or touches the user)."""
    from ..qscloud import QlikLoginError
    from ..tokens import create_qscloud_token
    from ._qscloud import _client as make_client

    token = create_qscloud_token(private_key, issuer=issuer, keyid=str(kid), sub=args.verify_sub, expires="1m")
    with make_client(args, log) as client:
        try:
            user = client.login(token.token)
        except QlikLoginError as exc:
            log.error(f"the login with the new key was refused: {exc}")
            for line in exc.explanation:
                log.info(f"  {line}")
            return False
    log.info(f"logged in with the new key as {user.get('subject')!s}")
    return True


# --- qscloud idp retire --------------------------------------------------------------------------------------


def idp_retire(args: argparse.Namespace, log: Log) -> int:
    with admin_client(args, log) as client:
        kept, doomed = identity_providers_to_retire(client.identity_providers(protocol=JWT_AUTH), args.issuer,
                                                    args.keep_kid)
        result: dict[str, Any] = {"issuer": args.issuer, "kept": _summary(kept),
                                  "deleted": [], "dryRun": bool(args.dry_run)}
        if not doomed:
            log.info(f"only the identity provider {kept.get('id')!s} (kid {args.keep_kid!r}) has the issuer "
                     f"{args.issuer!r}: nothing to retire")
            emit_result(args, result)
            return ExitCode.OK
        for idp in doomed:
            log.info(f"{'would delete' if args.dry_run else 'to delete'}: the identity provider {idp.get('id')!s} "
                     f"(kid {safe_text(repr(_kid(idp)))}): tokens with that kid stop working")
        if args.dry_run:
            result["wouldDelete"] = [_summary(idp) for idp in doomed]
            emit_result(args, result)
            return ExitCode.OK
        confirm(f"delete the {len(doomed)} identity provider(s) of {args.issuer!r} listed above?", args.yes, log)
        for idp in doomed:
            try:
                client.delete_identity_provider(str(idp.get("id")))
            except QlikApiError as exc:
                raise QlikApiError(f"{exc}; deleted so far: {[d['id'] for d in result['deleted']]}; run the same "
                                   "command again to delete the rest", status=exc.status, code=exc.code,
                                   detail=exc.detail, method=exc.method, url=exc.url, items=exc.items) from None
            result["deleted"].append(_summary(idp))
    log.info(f"retired {len(doomed)} identity provider(s); {kept.get('id')!s} (kid {args.keep_kid!r}) remains")
    emit_result(args, result)
    return ExitCode.OK


# --- qseow virtual-proxy rotate-cert -------------------------------------------------------------------------


def vp_rotate_cert(args: argparse.Namespace, log: Log) -> int:
    from ..qseow import certificate_thumbprint
    from ._qseow import _admin_401, _client, admin_jwt

    new = _NewKey(args, log, need_private=False)
    jwt = admin_jwt(args, log)
    log.warn(f"replacing the certificate of the virtual proxy {args.prefix!r}: tokens signed with the old key stop "
             "working through it at once (switch every minter to the new key right after)")
    confirm(f"replace the JWT certificate of the virtual proxy {args.prefix!r}?", args.yes, log)
    with _client(args, log, jwt) as client:
        try:
            if client.virtual_proxy(args.prefix) is None:
                raise QsJwtError(f"no virtual proxy has the prefix {args.prefix!r} (qs-jwt qseow virtual-proxy list "
                                 "lists them)")
            certificate = new.make()
            rotation = replace_virtual_proxy_certificate(client, args.prefix, certificate)
        except QlikApiError as exc:
            if exc.status == 401:
                return _admin_401(exc, args, jwt, log)
            raise
    from ..keys import jwk_thumbprint, load_public_key

    wanted = jwk_thumbprint(load_public_key(certificate, source="certificate"))
    stored = certificate_thumbprint(rotation.after.get("jwtPublicKeyCertificate"))
    result = {"prefix": args.prefix, "id": rotation.after.get("id"), "replaced": stored == wanted,
              "unexpectedChanges": rotation.unexpected, "certificateFile": new.cert_path,
              "keyFile": new.key_path or None}
    if stored != wanted:
        log.error("the virtual proxy the repository answered with does not hold the new certificate; check it in the "
                  "QMC (qs-jwt qseow virtual-proxy check)")
    if rotation.unexpected:
        log.warn(f"fields other than the certificate changed: {', '.join(rotation.unexpected)}")
    if stored == wanted:
        log.info(f"the virtual proxy {args.prefix!r} now takes tokens signed with the key of {new.cert_path}")
    emit_result(args, result)
    return ExitCode.OK if stored == wanted and not rotation.unexpected else ExitCode.VERIFY
