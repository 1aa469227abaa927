"""``decode`` and ``check``."""

from __future__ import annotations

import argparse
import datetime as _dt
from typing import Any

from ..claims import RSA_ALGORITHMS
from ..durations import format_duration
from ..errors import KeyLoadError
from ..tokens import current_time
from ._common import ENV_PASSPHRASE, ExitCode, UsageError
from ._io import emit, read_passphrase, read_token, to_json, verification_key
from ._run import Log, safe_text


def _algorithms(text: str) -> list[str]:
    algorithms = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in algorithms if a not in RSA_ALGORITHMS]
    if not algorithms or bad:
        raise UsageError(f"--algorithms: use a comma-separated list of {', '.join(RSA_ALGORITHMS)}")
    return algorithms


def _check_stdin_use(args: argparse.Namespace) -> None:
    token_from_stdin = args.jwt is None and (args.jwt_file in (None, "-"))
    from_stdin = [flag for flag, value in (("--cert-publickey-file", args.cert_publickey_file),
                                          ("--jwks-file", args.jwks_file),
                                          ("--passphrase-file", args.passphrase_file)) if value == "-"]
    if token_from_stdin:
        from_stdin.append("the token")
    if len(from_stdin) > 1:
        raise UsageError(f"only one input can come from standard input ({', '.join(from_stdin)})")


def _key(args: argparse.Namespace, log: Log) -> tuple[Any, str] | None:
    passphrase = read_passphrase("--passphrase-file", args.passphrase_file, log)
    try:
        return verification_key(args, log, passphrase=passphrase)
    except KeyLoadError as exc:
        if exc.passphrase_required:
            raise KeyLoadError(f"{exc.reason}: give it with --passphrase-file FILE or ${ENV_PASSPHRASE}",
                               source=exc.source, code=exc.code) from None
        raise


def _time_line(name: str, value: Any, now: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"  {name}  {safe_text(repr(value))}  (not a number of seconds)"
    try:
        when = _dt.datetime.fromtimestamp(value, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"  {name}  {value}  (out of range)"
    delta = value - now
    if name == "exp":
        relative = f"expires in {format_duration(delta)}" if delta > 0 else f"expired {format_duration(delta)} ago"
    elif delta > 0:
        relative = f"in {format_duration(delta)}"
    else:
        relative = f"{format_duration(delta)} ago"
    return f"  {name}  {value}  {when}  ({relative})"


def decode(args: argparse.Namespace, log: Log) -> int:
    from ..tokens import inspect_token

    _check_stdin_use(args)
    if args.minimal_output and args.output == "text":
        raise UsageError("--minimal-output prints JSON; it cannot be combined with --output text")
    algorithms = _algorithms(args.algorithms)
    key = _key(args, log)
    token = read_token(args)
    now = current_time()
    result = inspect_token(
        token,
        key=key[0] if key else None,
        algorithms=algorithms,
        audience=args.expected_audience,
        issuer=args.expected_issuer,
        leeway=args.leeway,
        now=now,
    )
    decoded = result.decoded
    as_json = args.minimal_output or args.output == "json"
    if key is None:
        log.warn("signature not verified: no key given (--cert-publickey-file, --cert-publickey or --jwks-file)")
    if as_json:
        emit(to_json({"header": decoded.header, "payload": decoded.payload, "verification": result.to_dict()}))
    else:
        lines = ["Header:", to_json(decoded.header), "Payload:", to_json(decoded.payload)]
        times = [_time_line(n, decoded.payload[n], now) for n in ("iat", "nbf", "exp") if n in decoded.payload]
        if times:
            lines += ["Times (UTC):", *times]
        lines.append("Verification:")
        if result.signature is None:
            lines.append("  signature:  not checked (no key given)")
        elif result.signature:
            source = key[1] if key else ""
            lines.append(f"  signature:  valid ({safe_text(decoded.algorithm)}, key from {safe_text(source)})")
        else:
            lines.append(f"  signature:  INVALID ({safe_text(result.signature_error or 'does not verify')})")
        if result.expired:
            lines.append("  time:       EXPIRED")
        elif result.not_yet_valid:
            lines.append("  time:       NOT YET VALID")
        elif "exp" not in decoded.payload:
            lines.append("  time:       valid (no expiry)")
        else:
            lines.append("  time:       valid")
        for label, outcome, expected in (("audience", result.audience, args.expected_audience),
                                         ("issuer", result.issuer, args.expected_issuer)):
            if outcome is None:
                lines.append(f"  {label + ':':<11} not checked")
            else:
                lines.append(f"  {label + ':':<11} {'matches' if outcome else 'DOES NOT MATCH'} "
                             f"{safe_text(to_json(expected, indent=None))}")
        for error in result.errors:
            lines.append(f"  - {safe_text(error)}")
        emit("\n".join(lines))
    verified = key is not None or args.expected_audience is not None or args.expected_issuer is not None
    if verified and not result.ok:
        # without a key only the expectations the user asked for decide the exit code
        if key is None and result.audience is not False and result.issuer is not False:
            return ExitCode.OK
        log.error("verification failed: " + safe_text("; ".join(result.errors)))
        return ExitCode.VERIFY
    return ExitCode.OK


def check(args: argparse.Namespace, log: Log) -> int:
    from ..checks import check_qscloud, check_qseow

    _check_stdin_use(args)
    owners = {"--audience": "qseow", "--userid-claim": "qseow", "--userdir-claim": "qseow", "--issuer": "qscloud",
              "--keyid": "qscloud or oauth-assertion", "--tenant": "oauth-assertion",
              "--client-id": "oauth-assertion"}
    values = {"--audience": args.audience, "--userid-claim": args.userid_claim, "--userdir-claim": args.userdir_claim,
              "--issuer": args.issuer, "--keyid": args.keyid, "--tenant": args.tenant, "--client-id": args.client_id}
    misplaced = [flag for flag, value in values.items() if value is not None and args.target not in owners[flag]]
    if misplaced:
        where = ", ".join(f"{flag} (--target {owners[flag]})" for flag in misplaced)
        raise UsageError(f"{where} does not apply to --target {args.target}")
    key = _key(args, log)
    token = read_token(args)
    now = current_time()
    if args.target == "qscloud":
        report = check_qscloud(token, issuer=args.issuer, keyid=args.keyid, key=key[0] if key else None,
                               leeway=args.leeway, now=now)
    elif args.target == "oauth-assertion":
        from ..oauth import check_oauth_assertion

        report = check_oauth_assertion(token, tenant=args.tenant, client_id=args.client_id, keyid=args.keyid,
                                       key=key[0] if key else None, leeway=args.leeway, now=now)
    else:
        userid_claim = "userId" if args.userid_claim is None else args.userid_claim
        userdir_claim = "userDirectory" if args.userdir_claim is None else args.userdir_claim
        report = check_qseow(token, audience=args.audience, userid_claim=userid_claim, userdir_claim=userdir_claim,
                             key=key[0] if key else None, leeway=args.leeway, now=now)
    failed = not report.ok or (args.strict and bool(report.findings))
    if args.output == "json":
        data = report.to_dict()
        data["ok"] = not failed
        emit(to_json(data))
    else:
        product = {"qscloud": "Qlik Cloud", "qseow": "a QSEoW JWT virtual proxy",
                   "oauth-assertion": "Qlik's OAuth token endpoint"}[args.target]
        lines = []
        for finding in report.findings:
            lines.append(f"{finding.severity.upper()}: {safe_text(finding.message)}")
            lines.append(f"  fix: {safe_text(finding.fix)}")
        if not report.findings:
            lines.append(f"OK: no rule of {product} is broken")
        elif failed:
            lines.append(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s): {product} would "
                         "not accept this token as it is" if report.errors else
                         f"{len(report.warnings)} warning(s) (--strict)")
        else:
            lines.append(f"{len(report.warnings)} warning(s), no error: {product} should accept this token")
        if key is None:
            lines.append("(signature not checked: no key given)")
        emit("\n".join(lines))
    return ExitCode.VERIFY if failed else ExitCode.OK
