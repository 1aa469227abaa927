"""``qseow call``, ``qseow server-cert``, ``qseow virtual-proxy create|list|check`` and ``qseow qlik-cli-context``."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from ..errors import QlikApiError
from ..qseow import (
    QseowClient,
    check_virtual_proxy,
    describe_certificate_chain,
    explain_unauthorized,
    qlik_cli_context_command,
    virtual_proxy_body,
)
from ._common import ExitCode, UsageError
from ._io import emit, read_input, read_passphrase, read_token, to_json
from ._net import (
    check_address,
    debug_log as _debug,
    http_settings as _http_settings,
    pairs,
    print_answer,
    request_parts,
)
from ._run import Log, safe_text

if TYPE_CHECKING:
    from ..http import HttpSettings

_SERVER_EXAMPLE = "https://qlik.example.com/jwt"
_CERT_HINT = " (qs-jwt qseow server-cert shows the server's certificate)"


def _check_server(value: str) -> None:
    check_address(value, "--server", _SERVER_EXAMPLE)


def http_settings(args: argparse.Namespace, log: Log) -> HttpSettings:
    """The connection options as the HTTP layer's settings; --insecure warns on every run."""
    return _http_settings(args, log, value=args.server, example=_SERVER_EXAMPLE, cert_hint=_CERT_HINT)


_KEY_OPTIONS = (("--cert-privatekey-file", "cert_privatekey_file"), ("--cert-privatekey", "cert_privatekey"),
                ("--cert-privatekey-passphrase-file", "cert_privatekey_passphrase_file"))


def _warn_unused_key(args: argparse.Namespace, log: Log, why: str) -> None:
    unused = [flag for flag, name in _KEY_OPTIONS  # a profile's key file is for the commands that sign
              if getattr(args, name, None) is not None and name not in getattr(args, "injected", {})]
    if unused:
        log.warn(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used {why}; ignored")


def _minting_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in ("userid", "userdir"))


def qseow_jwt(args: argparse.Namespace, log: Log) -> tuple[str, bool]:
    """The JWT from --jwt/--jwt-file, or minted now from the create-qseow options; and whether it was minted."""
    from ._qscloud import drop_conflicting_user_credential

    drop_conflicting_user_credential(args, getattr(args, "injected", {}), minting=("userid", "userdir"))
    given = args.jwt is not None or args.jwt_file is not None
    if given and _minting_given(args):
        raise UsageError("give --jwt/--jwt-file or the options that make a token (--userdir, --userid, ...), not "
                         "both")
    if given:
        _warn_unused_key(args, log, "when the JWT is given")
        return read_token(args), False
    if not _minting_given(args):
        raise UsageError("no JWT: give --jwt TOKEN, --jwt-file FILE, or the create-qseow options that make one "
                         "(--userdir, --userid, --audience and a signing key)")
    missing = [flag for flag, name in (("--userdir", "userdir"), ("--userid", "userid"), ("--audience", "audience"))
               if getattr(args, name) is None]
    if missing:
        raise UsageError(f"to make the token, {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed too")
    from ..tokens import Token
    from ._create import qseow_parts, signer_for

    parts, warnings = qseow_parts(args, log)
    signer = signer_for(args, log)
    header, payload = parts()
    token = Token(signer.sign(header, payload), header, payload, warnings)
    log.warnings(token.warnings)
    log.verbose(f"made a JWT for {payload.get(args.userid_claim)!s} that expires in {args.expires}")
    return token.token, True


def admin_jwt(args: argparse.Namespace, log: Log) -> str:
    """The administrator's JWT for the virtual-proxy commands: --jwt/--jwt-file, or minted now with the signing
    key for --admin-userdir, --admin-userid and --admin-audience (the existing virtual proxy's audience)."""
    given = args.jwt is not None or args.jwt_file is not None
    wanted = (args.admin_userdir, args.admin_userid, args.admin_audience)
    if given:
        if any(value is not None for value in wanted):
            raise UsageError("give --jwt/--jwt-file or --admin-userdir/--admin-userid/--admin-audience, not both")
        if args.vp_command != "check":  # check compares the signing key with the virtual proxy's certificate
            _warn_unused_key(args, log, "when the JWT is given")
        return read_token(args)
    if any(value is None for value in wanted):
        raise UsageError("no administrator JWT: give --jwt TOKEN, --jwt-file FILE, or --admin-userdir, "
                         "--admin-userid and --admin-audience with the signing key, for the virtual proxy in --server")
    from ..claims import QseowSettings, QseowUser
    from ..tokens import create_qseow_token
    from ._create import signer_for

    token = create_qseow_token(signer_for(args, log), QseowSettings(audience=args.admin_audience, expires="5m"),
                               QseowUser(user_id=args.admin_userid, user_directory=args.admin_userdir))
    return token.token


def _client(args: argparse.Namespace, log: Log, jwt: str) -> QseowClient:
    return QseowClient(args.server, jwt, settings=http_settings(args, log), log=_debug(log))


def _explain_401(exc: QlikApiError, server: str, jwt: str, log: Log, *, audience: str | None = None,
                 userid_claim: str | None = None, userdir_claim: str | None = None) -> int:
    """The refusal, its likely causes, and the local check of the token against what the virtual proxy in
    ``server`` expects (as far as the command line knows it); exit 4."""
    from ..checks import check_qseow
    from ..errors import QsJwtError

    log.error(str(exc))
    for line in explain_unauthorized(server):
        log.info(f"  {line}")
    try:
        report = check_qseow(jwt, audience=audience, userid_claim=userid_claim or "userId",
                             userdir_claim=userdir_claim or "userDirectory")
    except QsJwtError:
        return ExitCode.API
    if report.findings:
        log.info("what qs-jwt check --target qseow finds in the token:")
    for finding in report.findings:
        log.info(f"  {finding.severity.upper()}: {finding.message} (fix: {finding.fix})")
    return ExitCode.API


# --- qseow call -------------------------------------------------------------------------------------


def call(args: argparse.Namespace, log: Log) -> int:
    method, body, query, headers = request_parts(args, " and is relative to the virtual proxy, e.g. /qrs/about")
    jwt, _ = qseow_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            response = client.request(method, args.path, params=query, json=body, headers=headers,
                                      expect_json=False)
        except QlikApiError as exc:
            if exc.status == 401:
                return _explain_401(exc, args.server, jwt, log, audience=args.audience,
                                    userid_claim=args.userid_claim, userdir_claim=args.userdir_claim)
            raise
    return print_answer(response, args.raw, log)


# --- qseow server-cert ------------------------------------------------------------------------------


def server_cert(args: argparse.Namespace, log: Log) -> int:
    from ..http import fetch_server_certificates, normalize_base_url

    _check_server(args.server)
    chain = describe_certificate_chain(fetch_server_certificates(normalize_base_url(args.server),
                                                                 timeout=args.timeout))
    if args.output == "json":
        emit(to_json({"server": args.server, "certificates": chain}))
        return ExitCode.OK
    lines = []
    for number, cert in enumerate(chain, 1):
        role = "the server's certificate" if number == 1 else "issuer"
        lines += [f"Certificate {number} ({role}{', self-signed' if cert['selfSigned'] else ''}):",
                  f"  Subject:             {safe_text(cert['subject'])}",
                  f"  Issuer:              {safe_text(cert['issuer'])}",
                  f"  Valid:               {cert['notBefore']} to {cert['notAfter']}",
                  f"  SHA-256 fingerprint: {cert['sha256Fingerprint']}",
                  cert["pem"].rstrip()]
    emit("\n".join(lines))
    log.info("check the fingerprint with the server's admin; then save the PEM of the last certificate (the CA, or "
             "the server's own when self-signed) and give it to --ca-cert")
    return ExitCode.OK


# --- qseow qlik-cli-context -------------------------------------------------------------------------


def qlik_cli_context(args: argparse.Namespace, log: Log) -> int:
    jwt, _ = qseow_jwt(args, log)
    from ..http import normalize_base_url

    _check_server(args.server)
    argv = qlik_cli_context_command(args.name, normalize_base_url(args.server), jwt, insecure=args.insecure)
    log.warn("the command below holds the JWT (printing it is what this command is for): run it, then clear it "
             "from the terminal and the shell history")
    if args.output == "json":
        emit(to_json({"name": args.name, "server": args.server, "serverType": "windows", "apiKey": jwt,
                      "insecure": args.insecure, "command": argv}))
    else:
        emit(shlex.join(argv))
    return ExitCode.OK


# --- qseow virtual-proxy ----------------------------------------------------------------------------


def _attributes(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for claim, attribute in pairs(values, "--attribute", "="):
        if claim in mapping:
            raise UsageError(f"--attribute: the claim {claim!r} is mapped twice")
        mapping[claim] = attribute
    return mapping


def vp_create(args: argparse.Namespace, log: Log) -> int:
    from urllib.parse import urlsplit

    passphrase = read_passphrase("--cert-passphrase-file", args.cert_passphrase_file, log)
    certificate, _ = read_input("--cert-file", args.cert_file, what="certificate")
    if args.server is not None:
        from ..http import normalize_base_url

        _check_server(args.server)
        args.server = normalize_base_url(args.server)
    hosts = list(args.host_allow_list) or ([urlsplit(args.server).hostname or ""] if args.server else [])
    nodes = [args.load_balancing_node] if args.load_balancing_node else []

    def body(node_ids: list[str]) -> dict[str, Any]:
        return virtual_proxy_body(
            prefix=args.prefix, certificate=certificate, passphrase=passphrase, description=args.description,
            session_cookie_header=args.session_cookie_header, audience=args.audience,
            userid_claim=args.userid_claim, userdir_claim=args.userdir_claim, attributes=_attributes(args.attribute),
            load_balancing_nodes=node_ids, host_allow_list=[h for h in hosts if h])

    if args.dry_run or args.server is None:
        _warn_unused_key(args, log, "without --server (nothing is sent)")
        planned = body(nodes)
        if not nodes:
            log.info("the load-balancing node is read from the repository (the central node) when --server is "
                     "given; --load-balancing-node ID sets it")
        emit(to_json(planned))
        return ExitCode.OK
    body(nodes)  # every value is checked before anything is sent
    jwt = admin_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            node_ids = nodes or [client.central_node_id()]
            created = client.create_virtual_proxy(body(node_ids))
        except QlikApiError as exc:
            if exc.status == 401:
                return _admin_401(exc, args, jwt, log)
            raise
        try:
            proxy = client.link_virtual_proxy(str(created["id"]), args.proxy_id)
        except QlikApiError as exc:
            raise QlikApiError(f"the virtual proxy {created.get('prefix')!s} was created (id {created.get('id')!s}) "
                               f"but not linked to a proxy service: {exc}; link it in the QMC (Proxies, Virtual "
                               "proxies), or delete it and run this again", status=exc.status, method=exc.method,
                               url=exc.url, items=exc.items) from None
    log.info(f"created the virtual proxy {created.get('prefix')!s} and linked it to the proxy service "
             f"{proxy.get('id')!s}")
    emit(to_json({"virtualProxy": created, "linkedProxyService": proxy.get("id")}))
    return ExitCode.OK


def _admin_401(exc: QlikApiError, args: argparse.Namespace, jwt: str, log: Log) -> int:
    return _explain_401(exc, args.server, jwt, log, audience=args.admin_audience)


def vp_list(args: argparse.Namespace, log: Log) -> int:
    from ..qseow import AUTH_JWT

    jwt = admin_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            proxies = client.virtual_proxies()
            linked = {vp.get("id") for proxy in client.proxy_services()
                      for vp in proxy.get("settings", {}).get("virtualProxies", [])}
        except QlikApiError as exc:
            if exc.status == 401:
                return _admin_401(exc, args, jwt, log)
            raise
    rows = [{"prefix": vp.get("prefix"), "description": vp.get("description"),
             "authenticationMethod": vp.get("authenticationMethod"), "jwt": vp.get("authenticationMethod") == AUTH_JWT,
             "linked": vp.get("id") in linked, "id": vp.get("id")} for vp in proxies]
    if args.output == "json":
        emit(to_json(rows))
        return ExitCode.OK
    lines = [f"{'PREFIX':<20} {'AUTH':<8} {'LINKED':<7} DESCRIPTION"]
    for row in rows:
        auth = "JWT" if row["jwt"] else str(row["authenticationMethod"])
        lines.append(f"{safe_text(str(row['prefix']) or '(none)'):<20} {auth:<8} {'yes' if row['linked'] else 'no':<7} "
                     f"{safe_text(str(row['description'] or ''))}")
    emit("\n".join(lines))
    return ExitCode.OK


def vp_check(args: argparse.Namespace, log: Log) -> int:
    from ..errors import QsJwtError
    from ._create import signer_for

    public_key = signer_for(args, log).public_key
    jwt = admin_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            vp = client.virtual_proxy(args.prefix)
            linked = bool(client.linked_proxy_ids(str(vp.get("id")))) if vp is not None else False
        except QlikApiError as exc:
            if exc.status == 401:
                return _admin_401(exc, args, jwt, log)
            raise
    if vp is None:
        raise QsJwtError(f"no virtual proxy has the prefix {args.prefix!r} (qs-jwt qseow virtual-proxy list lists "
                         "them)")
    report = check_virtual_proxy(vp, public_key=public_key, audience=args.audience, userid_claim=args.userid_claim,
                                 userdir_claim=args.userdir_claim, linked=linked)
    if args.output == "json":
        emit(to_json(report.to_dict()))
    else:
        lines = []
        for finding in report.findings:
            lines += [f"{finding.severity.upper()}: {safe_text(finding.message)}", f"  fix: {safe_text(finding.fix)}"]
        lines.append(f"OK: the virtual proxy {args.prefix} accepts tokens from this key" if report.ok and not
                     report.findings else f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        emit("\n".join(lines))
    return ExitCode.OK if report.ok else ExitCode.VERIFY
