"""Type-checked in CI with `mypy --strict`: the public API as a library user writes it.

Not a test module (pytest does not collect it); it fails CI when a public name loses its type.
"""

from __future__ import annotations

from pathlib import Path

import qs_jwt
from qs_jwt import (
    CheckReport,
    QsCloudSettings,
    QsCloudTokenFactory,
    QsCloudUser,
    QseowSettings,
    QseowTokenFactory,
    QseowUser,
    Token,
    Verification,
    create_qseow_token,
)

KEY = Path("privatekey.pem")


def mint(sub: str) -> str:
    factory: QsCloudTokenFactory = qs_jwt.QsCloudTokenFactory(KEY.read_bytes(), issuer="my-app", keyid="k")
    token: Token = factory.create(sub=sub, email=f"{sub}@example.com", email_verified=True, groups=["Sales"])
    return token.token


SETTINGS = QsCloudSettings(issuer="my-app", keyid="k", expires="5m")
FACTORY = QsCloudTokenFactory(KEY.read_bytes(), SETTINGS)


def mint_for(sub: str, email: str) -> str:
    user = QsCloudUser(sub=sub, email=email, email_verified=True, groups=("Sales",))
    token: Token = FACTORY.create(user)
    warnings: tuple[str, ...] = token.warnings
    return token.token if not warnings else ""


def qseow_many(users: list[str]) -> list[str]:
    factory = QseowTokenFactory(KEY, QseowSettings(audience="qlik", expires="1h", groups_claim="group"))
    return [factory.create(QseowUser(user_id=u, user_directory="ACME")).token for u in users]


def qseow(user: str) -> str:
    return create_qseow_token(KEY, user_id=user, user_directory="ACME", audience="qlik", expires="1h").token


def inspect(token: str) -> bool:
    result: Verification = qs_jwt.verify(token, Path("publickey.cer"), audience="qlik.api/login/jwt-session")
    report: CheckReport = qs_jwt.check_qscloud(token, issuer="my-app", keyid="k")
    decoded = qs_jwt.decode_unverified(token)
    kid: str | None = decoded.key_id
    return result.ok and report.ok and kid is not None


def errors() -> str:
    try:
        qs_jwt.parse_duration("3600")
    except qs_jwt.InvalidValueError as exc:
        return f"{exc.param}: {exc.reason}"
    except qs_jwt.QsJwtError:
        raise
    return ""


def qlik_cloud(tenant: str, token: str, api_key: str) -> list[str]:
    from qs_jwt.http import HttpSettings
    from qs_jwt.qscloud import IdentityProviderCheck, check_identity_providers, jwt_idp_body

    with qs_jwt.QlikCloudClient(tenant, settings=HttpSettings(timeout=10)) as client:
        try:
            me: dict[str, object] = client.login(token)
        except qs_jwt.QlikLoginError as exc:
            return list(exc.explanation)
        session: qs_jwt.QlikCloudSession = client.session
        session.save("session.json")
    with qs_jwt.QlikCloudClient(tenant, api_key=api_key) as admin:
        body = jwt_idp_body(issuer="my-app", certificate=Path("publickey.cer").read_bytes())
        admin.create_identity_provider(body)
        key = qs_jwt.load_public_key(Path("publickey.cer").read_bytes())
        report: IdentityProviderCheck = check_identity_providers(admin.identity_providers(protocol="jwtAuth"), key)
    return [str(me.get("subject")), str(report.ok)]
