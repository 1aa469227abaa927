"""``qseow deployment create|bearer-token`` and ``multicloud setup``: cloud distribution from one QSEoW site to
many Qlik Cloud tenants."""

from __future__ import annotations

import argparse
import csv
import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import QlikApiError, QsJwtError
from ..qscloud import MULTI_CLOUD, QlikCloudClient, decode_bearer_token, describe_bearer_token, multicloud_idp_body
from ..qseow import QseowClient
from ._common import ExitCode, UsageError
from ._io import emit, read_input, to_json
from ._net import debug_log
from ._qseow import _explain_401, http_settings, qseow_jwt
from ._run import Log, safe_text

if TYPE_CHECKING:
    from ..http import HttpSettings

_MAX_TENANTS_FILE = 4 * 1024 * 1024
_COLUMNS = ("tenant", "api_key_file", "name", "client_id", "client_secret_file", "scope")


def _client(args: argparse.Namespace, log: Log, jwt: str, settings: HttpSettings | None = None) -> QseowClient:
    return QseowClient(args.server, jwt, settings=settings or http_settings(args, log), log=debug_log(log))


def _unauthorized(exc: QlikApiError, args: argparse.Namespace, jwt: str, log: Log) -> int:
    return _explain_401(exc, args.server, jwt, log, audience=args.audience, userid_claim=args.userid_claim,
                        userdir_claim=args.userdir_claim)


# --- qseow deployment ------------------------------------------------------------------------------------


def deployment_create(args: argparse.Namespace, log: Log) -> int:
    from ..qscloud import normalize_tenant_url

    tenant = normalize_tenant_url(args.tenant)
    jwt, _ = qseow_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            created = client.create_deployment(args.name, tenant)
        except QlikApiError as exc:
            if exc.status == 401:
                return _unauthorized(exc, args, jwt, log)
            raise
    log.info(f"created the deployment {created.get('id')!s} ({safe_text(args.name)}) for {tenant}; its bearer "
             f"token: qs-jwt qseow deployment bearer-token {created.get('id')!s} --server ...")
    emit(to_json(created))
    return ExitCode.OK


def deployment_bearer_token(args: argparse.Namespace, log: Log) -> int:
    jwt, _ = qseow_jwt(args, log)
    with _client(args, log, jwt) as client:
        try:
            token = client.deployment_bearer_token(args.id)
        except QlikApiError as exc:
            if exc.status == 401:
                return _unauthorized(exc, args, jwt, log)
            raise
    if args.decode:
        decoded = decode_bearer_token(token)
        emit(to_json({**describe_bearer_token(decoded), "decoded": decoded}))
    else:
        emit(token)
    return ExitCode.OK


# --- multicloud setup --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tenant:
    line: int
    url: str
    api_key_file: str
    name: str
    client_id: str = ""
    client_secret_file: str = ""
    scope: str = ""


def read_tenants(path: str) -> list[_Tenant]:
    """The tenants file: CSV with the header ``tenant,api_key_file`` and an optional ``name`` column; or, for an
    OAuth client instead of an API key, ``client_id`` and ``client_secret_file`` (and ``scope``, space-separated).
    Relative file paths are taken from the tenants file's folder. Every row is checked before anything is done."""
    from ..qscloud import normalize_tenant_url

    if path != "-" and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise UsageError("--tenants-file: no tenant: the file is empty (a CSV file with the header "
                         "tenant,api_key_file[,name])")
    raw, shown = read_input("--tenants-file", path, what="tenants file")
    if len(raw) > _MAX_TENANTS_FILE:
        raise UsageError("--tenants-file: larger than 4 MiB: not a tenants file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"--tenants-file: {shown} is not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    tenants: list[_Tenant] = []
    seen: dict[str, int] = {}
    folder = os.path.dirname(os.path.abspath(path))
    for number, row in enumerate(rows, 1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if header is None:
            header = [cell.lower() for cell in cells]
            unknown = [cell for cell in header if cell not in _COLUMNS]
            oauth = "client_id" in header or "client_secret_file" in header
            needed = ("tenant", "client_id", "client_secret_file") if oauth and "api_key_file" not in header else \
                ("tenant", "api_key_file")
            missing = [name for name in needed if name not in header]
            if unknown or missing:
                raise UsageError(f"--tenants-file: line {number}: the header must be tenant,api_key_file[,name]"
                                 + (f"; unknown column(s): {', '.join(safe_text(c) for c in unknown)}" if unknown
                                    else "") + (f"; missing: {', '.join(missing)}" if missing else ""))
            continue
        if len(cells) > len(header):
            raise UsageError(f"--tenants-file: line {number}: more values than columns")
        values = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
        by_key = bool(values.get("api_key_file"))
        by_client = bool(values.get("client_id")) and bool(values.get("client_secret_file"))
        if not values["tenant"] or by_key == by_client:
            raise UsageError(f"--tenants-file: line {number}: tenant, and api_key_file or client_id with "
                             "client_secret_file (one of the two), are needed")
        try:
            url = normalize_tenant_url(values["tenant"])
        except QsJwtError as exc:
            reason = exc.reason if hasattr(exc, "reason") else str(exc)
            raise UsageError(f"--tenants-file: line {number}: tenant: {reason}") from None
        if url in seen:
            raise UsageError(f"--tenants-file: line {number}: {url} is on line {seen[url]} already")
        seen[url] = number
        tenants.append(_Tenant(number, url, _local(values, "api_key_file", folder),
                               values.get("name") or url.partition("://")[2], values.get("client_id") or "",
                               _local(values, "client_secret_file", folder), values.get("scope") or ""))
    if header is None or not tenants:
        raise UsageError("--tenants-file: no tenant (a CSV file with the header tenant,api_key_file[,name])")
    return tenants


def _local(values: dict[str, str], name: str, folder: str) -> str:
    """A file named in the tenants file: a relative path is taken from the file's folder."""
    value = values.get(name) or ""
    return value if not value or os.path.isabs(value) else os.path.join(folder, value)


class _Run:
    """One ``multicloud setup`` run: the QSEoW client, its deployments, and the outcome of each tenant."""

    def __init__(self, args: argparse.Namespace, log: Log, qseow: QseowClient, settings: HttpSettings,
                 deployments: list[dict[str, Any]]) -> None:
        self.args, self.log, self.qseow, self.settings = args, log, qseow, settings
        self.deployments = deployments
        self.site = qseow.server.partition("://")[2].split("/")[0]

    def tenant(self, tenant: _Tenant) -> dict[str, Any]:
        result: dict[str, Any] = {"tenant": tenant.url, "status": "failed", "deploymentId": None,
                                  "identityProviderId": None, "error": None}
        try:
            self._tenant(tenant, result)
        except QlikApiError as exc:
            result.update(status="failed", error=_with_orphan(str(exc), result), api=True)
        except QsJwtError as exc:
            result.update(status="failed", error=_with_orphan(str(exc), result), api=False)
        return result

    def _tenant(self, tenant: _Tenant, result: dict[str, Any]) -> None:
        from ._io import read_secret_file

        where = f"--tenants-file line {tenant.line}"
        credentials = None
        key = None
        if tenant.client_id:
            from ..oauth import OAuthCredentials

            secret = read_secret_file(f"{where}, client_secret_file", tenant.client_secret_file, "client secret")
            credentials = OAuthCredentials(tenant.url, tenant.client_id, client_secret=secret,
                                           scopes=tenant.scope.split(), settings=self.settings,
                                           log=debug_log(self.log))
        else:
            key = read_secret_file(f"{where}, api_key_file", tenant.api_key_file, "API key")
        with QlikCloudClient(tenant.url, api_key=key, credentials=credentials, settings=self.settings,
                             log=debug_log(self.log)) as cloud:
            existing = cloud.identity_providers(protocol=MULTI_CLOUD)
            if existing and not self.args.replace:
                result.update(status="skipped", identityProviderId=existing[0].get("id"),
                              error=None, reason="the tenant has a multi-cloud identity provider (--replace "
                                                 "replaces it)")
                if self.args.dry_run:
                    result["dryRun"] = True
                return
            deployment = self._deployment_of(tenant)
            if deployment is not None:
                result["deploymentId"] = deployment.get("id")
            if self.args.dry_run:
                result.update(status="would-replace" if existing else "would-create", dryRun=True,
                              identityProviderId=existing[0].get("id") if existing else None,
                              reuse=deployment is not None)
                return
            for idp in existing:
                cloud.delete_identity_provider(str(idp.get("id")))
                self.log.verbose(f"{tenant.url}: deleted the multi-cloud identity provider {idp.get('id')!s}")
            if deployment is None:
                deployment = self.qseow.create_deployment(tenant.name, tenant.url)
                self.deployments.append(deployment)
                result["deploymentId"] = deployment.get("id")
                result["createdDeployment"] = True
                result["deploymentName"] = tenant.name
            token = self.qseow.deployment_bearer_token(str(deployment["id"]))
            body = multicloud_idp_body(token, tenant_id=cloud.tenant_id(),
                                       description=f"QSEoW {self.site}, deployment {tenant.name} (qs-jwt)")
            created = cloud.create_identity_provider(body)
        result.update(status="created", identityProviderId=created.get("id"))

    def _deployment_of(self, tenant: _Tenant) -> dict[str, Any] | None:
        """The site's deployment of this name: reused when it serves this tenant, else an error."""
        from ..qscloud import normalize_tenant_url

        for deployment in self.deployments:
            if deployment.get("name") != tenant.name:
                continue
            try:
                served = normalize_tenant_url(str(deployment.get("serviceUrl") or ""))
            except QsJwtError:
                served = str(deployment.get("serviceUrl"))
            if served != tenant.url:
                raise QsJwtError(f"the QSEoW deployment {deployment.get('id')!s} named {tenant.name!r} serves "
                                 f"{safe_text(served)}, not {tenant.url}: give this tenant another name (the name "
                                 "column)")
            return deployment
        return None


def _with_orphan(message: str, result: dict[str, Any]) -> str:
    if result.get("createdDeployment") and result.get("status") != "created":
        return (f"{message}; the deployment {result['deploymentId']!s} ({result.get('deploymentName')!s}) was "
                "created on QSEoW and is kept: the next run reuses it (or delete it in the QMC, Cloud distribution)")
    return message


def setup(args: argparse.Namespace, log: Log) -> int:
    jwt, _ = qseow_jwt(args, log)
    tenants = read_tenants(args.tenants_file)
    settings = http_settings(args, log)
    with _client(args, log, jwt, settings) as qseow:
        try:
            deployments = qseow.deployments()
        except QlikApiError as exc:
            if exc.status == 401:
                return _unauthorized(exc, args, jwt, log)
            raise
        run = _Run(args, log, qseow, settings, deployments)
        results = []
        for number, tenant in enumerate(tenants, 1):
            result = run.tenant(tenant)
            results.append(result)
            shown = {key: value for key, value in result.items()
                     if key not in ("api", "createdDeployment", "deploymentName")}
            emit(to_json(shown, indent=None))
            log.info(f"[{number}/{len(tenants)}] {tenant.url}: {_progress(result)}")
    failed = [result for result in results if result["status"] == "failed"]
    counts = {status: sum(r["status"] == status for r in results) for status in dict.fromkeys(r["status"]
                                                                                              for r in results)}
    log.info(", ".join(f"{count} {status}" for status, count in counts.items())
             + (" (dry run: nothing was changed)" if args.dry_run else ""))
    if not failed:
        return ExitCode.OK
    return ExitCode.API if all(result.get("api") for result in failed) else ExitCode.ERROR


def _progress(result: dict[str, Any]) -> str:
    status = result["status"]
    if status == "failed":
        return f"failed: {result['error']}"
    parts = [status]
    if result.get("deploymentId"):
        parts.append(f"deployment {result['deploymentId']}" + (" (reused)" if result.get("reuse") else ""))
    if result.get("identityProviderId"):
        parts.append(f"identity provider {result['identityProviderId']}")
    if result.get("reason"):
        parts.append(str(result["reason"]))
    return ", ".join(parts)
