"""Key rotation: a second JWT identity provider for an issuer with the new key, the old one retired afterwards
(Qlik Cloud holds one key per identity provider, and a key cannot be patched); a QSEoW virtual proxy's certificate
replaced in place.

Each step can be run again: :func:`rotation_state` tells from the tenant's identity providers whether a rotation
is to be made, is done (the new kid is there beside the old one), or cannot go on (what was found is named).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidValueError, QlikApiError, QsJwtError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.x509 import Certificate

    from .qscloud import IdentityProviderCheck, QlikCloudClient
    from .qseow import QseowClient

__all__ = [
    "RotationState",
    "VirtualProxyRotation",
    "check_rotation",
    "create_rotated_identity_provider",
    "identity_providers_to_retire",
    "replace_virtual_proxy_certificate",
    "rotation_state",
]

#: the fields of a virtual proxy that a certificate replacement may change (the QRS bookkeeping among them)
_CHANGED_BY_PUT = frozenset({"jwtPublicKeyCertificate", "modifiedDate", "modifiedByUserName"})
_CONFLICT_RETRIES = 1


def _issuer(idp: Mapping[str, Any]) -> str | None:
    options = idp.get("options")
    issuer = options.get("issuer") if isinstance(options, dict) else None
    return issuer if isinstance(issuer, str) else None


def _kid(idp: Mapping[str, Any]) -> str | None:
    options = idp.get("options")
    keys = options.get("staticKeys") if isinstance(options, dict) else None
    kid = keys[0].get("kid") if isinstance(keys, list) and keys and isinstance(keys[0], dict) else None
    return kid if isinstance(kid, str) else None


def _shown(idp: Mapping[str, Any]) -> str:
    return f"{idp.get('id')!s} (kid {_kid(idp)!r}{'' if idp.get('active') is True else ', inactive'})"


@dataclass(frozen=True)
class RotationState:
    """Where the rotation of ``issuer`` stands: ``"ready"`` (one identity provider: ``current``), or ``"done"``
    (``current`` and ``rotated``, whose key is the new one)."""

    issuer: str
    status: str
    current: dict[str, Any]
    rotated: dict[str, Any] | None = None


def rotation_state(identity_providers: Iterable[Mapping[str, Any]], issuer: str,
                   new_public_key: RSAPublicKey | None = None, new_kid: str | None = None) -> RotationState:
    """The state of a rotation of ``issuer``'s JWT identity provider, from the tenant's identity providers.

    One JWT identity provider of the issuer: ``"ready"``. Two, one of them holding the new key (by thumbprint, when
    ``new_public_key`` is given) or the new kid: ``"done"`` (an earlier run made it). Anything else raises
    :class:`QsJwtError` naming what was found.
    """
    from .keys import jwk_thumbprint
    from .qscloud import JWT_AUTH, identity_provider_thumbprint

    found = [dict(idp) for idp in identity_providers if idp.get("protocol") == JWT_AUTH and _issuer(idp) == issuer]
    if not found:
        raise QsJwtError(f"no JWT identity provider has the issuer {issuer!r}: there is nothing to rotate (qs-jwt "
                         "qscloud idp list shows the issuers; qs-jwt qscloud idp create makes one)")
    if len(found) == 1:
        return RotationState(issuer, "ready", found[0])
    thumbprint = jwk_thumbprint(new_public_key) if new_public_key is not None else None

    def is_new(idp: Mapping[str, Any]) -> bool:
        if thumbprint is not None:  # the key decides; a kid given must match too
            return identity_provider_thumbprint(idp) == thumbprint and new_kid in (None, _kid(idp))
        return new_kid is not None and _kid(idp) == new_kid

    rotated = [idp for idp in found if is_new(idp)]
    if len(found) == 2 and len(rotated) == 1:
        current = next(idp for idp in found if idp is not rotated[0])
        return RotationState(issuer, "done", current, rotated[0])
    shown = "; ".join(_shown(idp) for idp in found)
    raise QsJwtError(f"{len(found)} JWT identity providers have the issuer {issuer!r}: {shown}; "
                     + ("none of them holds the new key, so this is not a rotation this command made: retire the "
                        "extra ones first (qs-jwt qscloud idp retire --keep-kid KID)" if not rotated else
                        "more than two: retire the extra ones first (qs-jwt qscloud idp retire --keep-kid KID)"))


def create_rotated_identity_provider(
    client: QlikCloudClient,
    state: RotationState,
    certificate: bytes | str | Certificate,
    *,
    new_kid: str | None = None,
    new_issuer: str | None = None,
) -> tuple[dict[str, Any], IdentityProviderCheck]:
    """Create the second JWT identity provider of a ``"ready"`` rotation (the new key and kid, the description
    and clock tolerance of the current one), and check it against the new key. Returns it and the check.

    :raises InvalidValueError: the new kid equals the current one (``param="kid"``).
    :raises QlikApiError: Qlik refused it (a second identity provider of the issuer may not be allowed: then
        give ``new_issuer``).
    """
    from .qscloud import check_identity_providers, jwt_idp_body

    if state.status != "ready":
        raise QsJwtError(f"the rotation of {state.issuer!r} is {state.status} already")
    current = state.current
    issuer = new_issuer or state.issuer
    tolerance = current.get("clockToleranceSec")
    description = current.get("description") if isinstance(current.get("description"), str) else None
    body = jwt_idp_body(issuer=issuer, certificate=certificate, kid=new_kid,
                        description=(description or f"JWT login for {issuer}") + " (rotated key, qs-jwt)",
                        clock_tolerance=tolerance if isinstance(tolerance, int) and not isinstance(tolerance, bool)
                        and 0 <= tolerance <= 3600 else None,
                        tenant_id=_first_tenant(current) or client.tenant_id())
    kid = body["options"]["staticKeys"][0]["kid"]
    from .qscloud import identity_provider_thumbprint

    check_rotation(state, identity_provider_thumbprint(body), kid, new_issuer)
    try:
        created = client.create_identity_provider(body)
    except QlikApiError as exc:
        if new_issuer is None and exc.status in (400, 409, 422):
            raise QlikApiError(f"{exc}; Qlik may refuse a second identity provider for the issuer {state.issuer!r}: "
                               "then rotate to a new issuer (new_issuer / --new-issuer ISS2), and switch the token "
                               "minters' issuer and kid together", status=exc.status, code=exc.code,
                               detail=exc.detail, trace_id=exc.trace_id, method=exc.method, url=exc.url,
                               title=exc.title, items=exc.items) from None
        raise
    from .qscloud import _key_material

    _pem, public_key, _cert = _key_material(certificate, None)
    check = check_identity_providers([created], public_key, issuer=issuer, keyid=kid)
    return created, check


def check_rotation(state: RotationState, new_thumbprint: str | None, new_kid: str | None,
                   new_issuer: str | None = None) -> None:
    """Refuse a rotation to the key the identity provider holds already, or to its kid (for the same issuer).
    ``None`` for what is not known yet (a key still to be made, a kid still to be derived)."""
    from .qscloud import identity_provider_thumbprint

    current = state.current
    if new_thumbprint is not None and new_thumbprint == identity_provider_thumbprint(current):
        raise QsJwtError(f"the new key is the one the identity provider {current.get('id')!s} holds already: "
                         "there is nothing to rotate (make a new key, or bring another one)")
    if new_kid is not None and (new_issuer or state.issuer) == state.issuer and new_kid == _kid(current):
        raise InvalidValueError("is the current identity provider's kid: give the new key another one",
                                param="kid")


def _first_tenant(idp: Mapping[str, Any]) -> str | None:
    tenants = idp.get("tenantIds")
    return tenants[0] if isinstance(tenants, list) and tenants and isinstance(tenants[0], str) else None


def identity_providers_to_retire(identity_providers: Iterable[Mapping[str, Any]], issuer: str,
                                 keep_kid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JWT identity provider of ``issuer`` with ``keep_kid`` (which must exist and be active), and every other
    JWT identity provider of that issuer (to delete).

    :raises QsJwtError: the kept one does not exist, is inactive, or is there twice.
    """
    from .qscloud import JWT_AUTH

    found = [dict(idp) for idp in identity_providers if idp.get("protocol") == JWT_AUTH and _issuer(idp) == issuer]
    kept = [idp for idp in found if _kid(idp) == keep_kid]
    if not kept:
        shown = "; ".join(_shown(idp) for idp in found) or "none"
        raise QsJwtError(f"no JWT identity provider of the issuer {issuer!r} has the kid {keep_kid!r} (they are: "
                         f"{shown}): nothing is deleted")
    if len(kept) > 1:
        raise QsJwtError(f"{len(kept)} identity providers of the issuer {issuer!r} have the kid {keep_kid!r}: "
                         "delete the extra one by id (qs-jwt qscloud idp delete ID)")
    if kept[0].get("active") is not True:
        raise QsJwtError(f"the identity provider {kept[0].get('id')!s} with the kid {keep_kid!r} is not active: "
                         "keeping it would leave no way to log in; nothing is deleted")
    return kept[0], [idp for idp in found if idp is not kept[0]]


@dataclass
class VirtualProxyRotation:
    """A certificate replacement of a virtual proxy: the entity before and after, and what else changed
    (``unexpected``: fields other than the certificate whose value differs; empty when all is well)."""

    before: dict[str, Any]
    after: dict[str, Any]
    unexpected: list[str] = field(default_factory=list)

    @property
    def certificate_replaced(self) -> bool:
        return bool(self.after.get("jwtPublicKeyCertificate") != self.before.get("jwtPublicKeyCertificate"))


def _pem_of(certificate: bytes | str | Certificate) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from .certs import describe_key_material

    if isinstance(certificate, x509.Certificate):
        cert = certificate
    else:
        info = describe_key_material(certificate, source="certificate")
        if info.certificate is None or info.public_key is None:
            from .errors import KeyLoadError

            raise KeyLoadError("holds no X.509 certificate of an RSA key: a JWT virtual proxy validates tokens with "
                               "the certificate (qs-jwt cert create writes publickey.cer)", source="certificate",
                               code="wrong-kind")
        cert = info.certificate
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def replace_virtual_proxy_certificate(client: QseowClient, prefix: str,
                                      certificate: bytes | str | Certificate) -> VirtualProxyRotation:
    """Replace the JWT certificate of the virtual proxy ``prefix``: the whole entity is read and written back
    (``PUT /qrs/virtualproxyconfig/{id}`` with its ``modifiedDate``; a conflict is retried once after a fresh
    read), and the stored entity QRS answers with is compared with the one before.

    :raises QsJwtError: no virtual proxy has the prefix.
    """
    pem = _pem_of(certificate)
    for attempt in range(_CONFLICT_RETRIES + 1):
        before = client.virtual_proxy(prefix)
        if before is None:
            raise QsJwtError(f"no virtual proxy has the prefix {prefix!r} (qs-jwt qseow virtual-proxy list lists "
                             "them)")
        body = {**before, "jwtPublicKeyCertificate": pem}
        try:
            after = dict(client.qrs("PUT", f"virtualproxyconfig/{before['id']}", json=body))
        except QlikApiError as exc:
            if exc.status != 409 or attempt == _CONFLICT_RETRIES:
                raise
            continue
        unexpected = sorted(name for name in set(before) | set(after)
                            if name not in _CHANGED_BY_PUT and before.get(name) != after.get(name))
        return VirtualProxyRotation(before, after, unexpected)
    raise AssertionError("unreachable")  # pragma: no cover
