"""``create-client-assertion`` and ``qscloud oauth token``; the OAuth admin credential of the ``qscloud``
commands (``--client-id`` with a client secret or a private key JWT instead of an API key)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from ..oauth import OAuthCredentials, OAuthError, create_client_assertion
from ._common import ExitCode, UsageError
from ._io import emit, read_input, read_passphrase, to_json
from ._run import Log

if TYPE_CHECKING:
    from ..tokens import Signer

ENV_CLIENT_SECRET = "QLIK_OAUTH_CLIENT_SECRET"  # noqa: S105 - the variable's name
_MAX_SECRET_FILE = 64 * 1024


def _client_secret(args: argparse.Namespace, log: Log) -> str | None:
    """The client secret from --client-secret-file, --client-secret (warns) or $QLIK_OAUTH_CLIENT_SECRET."""
    if args.client_secret is not None and args.client_secret_file is not None:
        raise UsageError("give either --client-secret or --client-secret-file, not both")
    if args.client_secret is not None:
        log.warn("--client-secret puts the secret in the process list and shell history; prefer "
                 f"--client-secret-file or ${ENV_CLIENT_SECRET}")
        return str(args.client_secret).strip()
    if args.client_secret_file is not None:
        from ._io import read_secret_file

        return read_secret_file("--client-secret-file", args.client_secret_file, "client secret")
    value = os.environ.get(ENV_CLIENT_SECRET, "").strip()
    return value or None


def _impersonate(args: argparse.Namespace) -> tuple[str, str] | None:
    given = [(field, value) for field, value in (("subject", getattr(args, "impersonate_sub", None)),
                                                  ("email", getattr(args, "impersonate_email", None)),
                                                  ("userId", getattr(args, "impersonate_user_id", None)))
             if value is not None]
    if len(given) > 1:
        raise UsageError("give one of --impersonate-sub, --impersonate-email and --impersonate-user-id")
    return given[0] if given else None


def _assertion_signer(args: argparse.Namespace, log: Log, *, signing_options: bool) -> Signer | None:
    """The key of the private key JWT: --assertion-privatekey-file, or (for oauth token) the signing-key options."""
    from ..keys import load_private_key
    from ..tokens import Signer

    path = getattr(args, "assertion_privatekey_file", None)
    if path is not None:
        data, name = read_input("--assertion-privatekey-file", path, what="private key")
        passphrase = read_passphrase("--assertion-passphrase-file", getattr(args, "assertion_passphrase_file", None),
                                     log)
        return Signer(load_private_key(data, passphrase=passphrase, source=name))
    if signing_options:
        from ._create import signer_for

        return signer_for(args, log)
    return None


def credentials(args: argparse.Namespace, log: Log, tenant: str, *, signing_options: bool = False,
                user: bool = False) -> OAuthCredentials | None:
    """The OAuth credential the options give (``--client-id`` with a secret or an assertion key), or None."""
    from ._net import debug_log, http_settings

    if getattr(args, "client_id", None) is None:
        warn_unused(args, log)
        return None
    keyid = getattr(args, "assertion_keyid", None)
    typed_secret = args.client_secret is not None or args.client_secret_file is not None
    secret = _client_secret(args, log) if typed_secret or keyid is None else None  # a typed key JWT wins over $...
    if secret is not None and keyid is not None:
        raise UsageError("give a client secret or --assertion-keyid (private key JWT), not both")
    if keyid is None:
        unused = [flag for flag, name in (("--assertion-privatekey-file", "assertion_privatekey_file"),
                                          ("--assertion-passphrase-file", "assertion_passphrase_file"),
                                          ("--cert-privatekey-file", "cert_privatekey_file"),
                                          ("--cert-privatekey", "cert_privatekey"),
                                          ("--cert-privatekey-passphrase-file", "cert_privatekey_passphrase_file"))
                  if (signing_options or "assertion" in name) and getattr(args, name, None) is not None
                  and name not in getattr(args, "injected", {})]
        if unused:
            log.warn(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used with a client secret "
                     "(only with --assertion-keyid); ignored")
    signer = None
    if keyid is not None:
        signer = _assertion_signer(args, log, signing_options=signing_options)
        if signer is None:
            raise UsageError("--assertion-keyid needs --assertion-privatekey-file (the key whose JWK the OAuth "
                             "client holds)")
    elif secret is None:
        raise UsageError(f"--client-id needs a client secret (--client-secret-file FILE or ${ENV_CLIENT_SECRET}) or "
                         "a private key JWT (--assertion-keyid KID with the key)")
    settings = http_settings(args, log, flag="--tenant", value=args.tenant, example="https://your-tenant.eu.qlikcloud.com")
    return OAuthCredentials(tenant, args.client_id, client_secret=secret, assertion_key=signer,
                            assertion_keyid=keyid, assertion_algorithm=getattr(args, "assertion_algorithm", "RS256"),
                            scopes=tuple(getattr(args, "scope", None) or ()),
                            impersonate=_impersonate(args) if user else None, settings=settings,
                            log=debug_log(log))


_OAUTH_OPTIONS = (("--client-secret-file", "client_secret_file"), ("--client-secret", "client_secret"),
                  ("--assertion-keyid", "assertion_keyid"),
                  ("--assertion-privatekey-file", "assertion_privatekey_file"),
                  ("--assertion-passphrase-file", "assertion_passphrase_file"),
                  ("--impersonate-sub", "impersonate_sub"), ("--impersonate-email", "impersonate_email"),
                  ("--impersonate-user-id", "impersonate_user_id"))


def warn_unused(args: argparse.Namespace, log: Log) -> None:
    """The OAuth options given without --client-id are not used: say so."""
    unused = [flag for flag, name in _OAUTH_OPTIONS
              if getattr(args, name, None) is not None and name not in getattr(args, "injected", {})]
    if unused:
        log.warn(f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used without --client-id (the "
                 "OAuth client); ignored")


def explain(exc: OAuthError, log: Log) -> int:
    log.error(str(exc))
    for number, line in enumerate(exc.explanation):
        log.info(f"{'likely cause: ' if number == 0 else '  '}{line}")
    return ExitCode.API


# --- create-client-assertion -------------------------------------------------------------------------------


def client_assertion(args: argparse.Namespace, log: Log) -> int:
    from ._create import signer_for
    from ._net import tenant_url

    tenant = tenant_url(args)
    signer = signer_for(args, log)
    token = create_client_assertion(signer, tenant=tenant, client_id=args.client_id, keyid=args.keyid,
                                    algorithm=args.algorithm, expires=args.expires)
    log.warnings(token.warnings)
    emit(to_json(token.to_dict()) if args.output == "json" else token.token)
    return ExitCode.OK


# --- qscloud oauth token -----------------------------------------------------------------------------------


def oauth_token(args: argparse.Namespace, log: Log) -> int:
    from ._net import tenant_url

    tenant = tenant_url(args)
    creds = credentials(args, log, tenant, signing_options=True, user=True)
    if creds is None:
        raise UsageError("--client-id is needed (the OAuth client)")
    try:
        token = creds.token()
    except OAuthError as exc:
        return explain(exc, log)
    if args.output == "token":
        log.warn("the access token is printed (that is this command's purpose): it is a credential until "
                 f"{token.expires_at:%Y-%m-%d %H:%M:%S} UTC; keep it out of logs and shell history")
        emit(token.access_token)
        return ExitCode.OK
    emit(to_json(_wire(token.to_dict())))
    return ExitCode.OK


def _wire(token: dict[str, Any]) -> dict[str, Any]:
    """The access token as Qlik's token endpoint names its fields."""
    names = {"accessToken": "access_token", "tokenType": "token_type", "expiresAt": "expires_at", "scope": "scope"}
    return {names.get(key, key): value for key, value in token.items()}
