"""qs-jwt: create, inspect and check JWTs for Qlik Cloud and client-managed Qlik Sense (QSEoW).

The public API is imported lazily, so ``import qs_jwt`` (and the command-line tool's start-up)
stays cheap; names load on first use::

    import qs_jwt

    settings = qs_jwt.QsCloudSettings(issuer="my-app", keyid="key-1", expires="5m")
    factory = qs_jwt.QsCloudTokenFactory(open("privatekey.pem", "rb").read(), settings)
    user = qs_jwt.QsCloudUser(sub="alice-42", email="alice@example.com", email_verified=True)
    print(factory.create(user).token)
"""

from __future__ import annotations

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    # tokens
    "create_qscloud_token": "tokens",
    "create_qseow_token": "tokens",
    "qscloud_token_parts": "tokens",
    "qseow_token_parts": "tokens",
    "QsCloudTokenFactory": "tokens",
    "QseowTokenFactory": "tokens",
    "normalize_token_text": "tokens",
    "Signer": "tokens",
    "Token": "tokens",
    "DecodedToken": "tokens",
    "Verification": "tokens",
    "decode_unverified": "tokens",
    "inspect_token": "tokens",
    "verify": "tokens",
    # QSEoW through a JWT virtual proxy (imports httpx when a client is made)
    "QseowClient": "qseow",
    # Qlik Cloud: sessions, API calls, identity providers (imports httpx when a client is made)
    "QlikCloudClient": "qscloud",
    "QlikCloudSession": "qscloud",
    "QlikLoginError": "qscloud",
    # OAuth: client assertions (private key JWT), access tokens
    "OAuthCredentials": "oauth",
    "AccessToken": "oauth",
    "OAuthError": "oauth",
    "create_client_assertion": "oauth",
    "check_oauth_assertion": "oauth",
    # checks
    "check_qscloud": "checks",
    "check_qseow": "checks",
    "check_key_material": "checks",
    "CheckReport": "checks",
    "Finding": "checks",
    # keys and certificates
    "load_private_key": "keys",
    "validate_private_key": "keys",
    "load_public_key": "keys",
    "load_jwks": "keys",
    "load_verification_keys": "keys",
    "private_key_file_problem": "keys",
    "read_key_source": "keys",
    "generate_rsa_key": "keys",
    "private_key_pem": "keys",
    "public_key_pem": "keys",
    "public_jwk": "keys",
    "jwk_thumbprint": "keys",
    "JsonWebKey": "keys",
    "create_key_files": "certs",
    "create_self_signed_certificate": "certs",
    "describe_key_material": "certs",
    "single_line_pem": "certs",
    "KeyFiles": "certs",
    "KeyInfo": "certs",
    # claims and durations
    "QsCloudSettings": "claims",
    "QsCloudUser": "claims",
    "QseowSettings": "claims",
    "QseowUser": "claims",
    "Claims": "claims",
    "parse_duration": "durations",
    "QSCLOUD_AUDIENCE": "claims",
    "QSCLOUD_MAX_LIFETIME": "claims",
    "RSA_ALGORITHMS": "claims",
    # errors
    "QsJwtError": "errors",
    "InvalidValueError": "errors",
    "ArgumentTypeError": "errors",
    "KeyLoadError": "errors",
    "OutputExistsError": "errors",
    "FileWriteError": "errors",
    "TokenFormatError": "errors",
    "VerificationError": "errors",
    "QlikApiError": "errors",
    "QlikConnectionError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'qs_jwt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


TYPE_CHECKING = False  # typing is not imported: it costs more start-up time than the whole CLI
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .certs import (
        KeyFiles as KeyFiles,
        KeyInfo as KeyInfo,
        create_key_files as create_key_files,
        create_self_signed_certificate as create_self_signed_certificate,
        describe_key_material as describe_key_material,
        single_line_pem as single_line_pem,
    )
    from .checks import (
        CheckReport as CheckReport,
        Finding as Finding,
        check_key_material as check_key_material,
        check_qscloud as check_qscloud,
        check_qseow as check_qseow,
    )
    from .claims import (
        QSCLOUD_AUDIENCE as QSCLOUD_AUDIENCE,
        QSCLOUD_MAX_LIFETIME as QSCLOUD_MAX_LIFETIME,
        RSA_ALGORITHMS as RSA_ALGORITHMS,
        Claims as Claims,
        QsCloudSettings as QsCloudSettings,
        QsCloudUser as QsCloudUser,
        QseowSettings as QseowSettings,
        QseowUser as QseowUser,
    )
    from .durations import parse_duration as parse_duration
    from .errors import (
        ArgumentTypeError as ArgumentTypeError,
        FileWriteError as FileWriteError,
        InvalidValueError as InvalidValueError,
        KeyLoadError as KeyLoadError,
        OutputExistsError as OutputExistsError,
        QlikApiError as QlikApiError,
        QlikConnectionError as QlikConnectionError,
        QsJwtError as QsJwtError,
        TokenFormatError as TokenFormatError,
        VerificationError as VerificationError,
    )
    from .keys import (
        JsonWebKey as JsonWebKey,
        generate_rsa_key as generate_rsa_key,
        jwk_thumbprint as jwk_thumbprint,
        load_jwks as load_jwks,
        load_private_key as load_private_key,
        load_public_key as load_public_key,
        load_verification_keys as load_verification_keys,
        private_key_file_problem as private_key_file_problem,
        private_key_pem as private_key_pem,
        public_jwk as public_jwk,
        public_key_pem as public_key_pem,
        read_key_source as read_key_source,
        validate_private_key as validate_private_key,
    )
    from .oauth import (
        AccessToken as AccessToken,
        OAuthCredentials as OAuthCredentials,
        OAuthError as OAuthError,
        check_oauth_assertion as check_oauth_assertion,
        create_client_assertion as create_client_assertion,
    )
    from .qscloud import (
        QlikCloudClient as QlikCloudClient,
        QlikCloudSession as QlikCloudSession,
        QlikLoginError as QlikLoginError,
    )
    from .qseow import QseowClient as QseowClient
    from .tokens import (
        DecodedToken as DecodedToken,
        QsCloudTokenFactory as QsCloudTokenFactory,
        QseowTokenFactory as QseowTokenFactory,
        Signer as Signer,
        Token as Token,
        Verification as Verification,
        create_qscloud_token as create_qscloud_token,
        create_qseow_token as create_qseow_token,
        decode_unverified as decode_unverified,
        inspect_token as inspect_token,
        normalize_token_text as normalize_token_text,
        qscloud_token_parts as qscloud_token_parts,
        qseow_token_parts as qseow_token_parts,
        verify as verify,
    )
