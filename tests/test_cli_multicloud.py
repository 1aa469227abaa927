"""``qs-jwt qseow deployment create|bearer-token`` and ``qs-jwt multicloud setup`` end to end: one QSEoW emulator and
three Qlik Cloud tenant emulators, each on an HTTPS server with a CA of its own (one ``--ca-cert`` bundle trusts
them all)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, key_path
from qlik_emulator import QscloudEmulator, QseowEmulator, Request, Response, decode_bearer_token, write_ca_bundle
from qlik_emulator.fixtures import QSCLOUD_TENANT_API_KEYS

KEY = key_path("rsa2048_pkcs8.pem")
#: the QSEoW JWT made by the run itself
MINT = ("--cert-privatekey-file", KEY, "--userdir", "ACME", "--userid", "admin", "--audience", "qlik")
MULTI_CLOUD = "qsefw-local-bearer-token"
LINE_KEYS = {"tenant", "status", "deploymentId", "identityProviderId", "error"}
#: a port nothing listens on: a tenant that is down
DOWN_TENANT = "https://127.0.0.1:9"
WRONG_KEY = "tenant-wrong-api-key-0123456789"
IDP_PATH = "/api/v1/identity-providers"
LOGOUT_SUFFIX = "/qps/user"
PROGRESS = re.compile(r"(?:qs-jwt: )?(\[\d+/\d+\] .*)")


# --- helpers ---------------------------------------------------------------------------------------------


@pytest.fixture
def qseow(qseow_emulator_own_ca: QseowEmulator) -> QseowEmulator:
    return qseow_emulator_own_ca


@pytest.fixture
def tenants(qscloud_tenants: list[QscloudEmulator]) -> list[QscloudEmulator]:
    return qscloud_tenants


@pytest.fixture
def ca_bundle(tmp_path: Path, qseow: QseowEmulator, tenants: list[QscloudEmulator]) -> str:
    return str(write_ca_bundle(tmp_path / "ca-bundle.pem", qseow, *tenants))


@pytest.fixture
def cli(run_cli):
    """``run_cli`` that also checks no run ever shows a traceback."""
    def run(*args: str, **kwargs: Any) -> CliResult:
        result = run_cli(*args, **kwargs)
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        return result
    return run


def connection(qseow: QseowEmulator, ca_bundle: str, timeout: str = "5") -> list[str]:
    return ["--server", f"{qseow.url}/jwt", "--ca-cert", ca_bundle, "--timeout", timeout, "--retries", "1"]


def key_file(folder: Path, name: str, key: str) -> str:
    """Write an API key file under ``folder/keys``; its path relative to ``folder``."""
    (folder / "keys").mkdir(exist_ok=True)
    path = folder / "keys" / name
    path.write_text(key + "\n")
    path.chmod(0o600)
    return f"keys/{name}"


def tenants_file(folder: Path, rows: list[tuple[str, ...]], header: str = "tenant,api_key_file,name") -> str:
    path = folder / "tenants.csv"
    path.write_text("\n".join([header, *(",".join(row) for row in rows)]) + "\n")
    return str(path)


def tenant_rows(folder: Path, tenants: list[QscloudEmulator], order: tuple[int, ...] = (0, 1, 2),
                keys: dict[int, str] | None = None) -> list[tuple[str, ...]]:
    """One row per tenant (by index, in ``order``): its URL, its key file, the name ``Tenant <n>``."""
    keys = keys or {}
    return [(tenants[i].url, key_file(folder, f"tenant{i + 1}.txt", keys.get(i, QSCLOUD_TENANT_API_KEYS[i])),
             f"Tenant {i + 1}") for i in order]


def run_setup(cli: Any, qseow: QseowEmulator, ca_bundle: str, path: str, *extra: str,
          token: tuple[str, ...] = MINT) -> CliResult:
    return cli("multicloud", "setup", "--tenants-file", path, *connection(qseow, ca_bundle), *token, *extra)


def lines(result: CliResult) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for line in parsed:
        assert set(line) >= LINE_KEYS, line
    return parsed


def progress(result: CliResult) -> list[str]:
    """The progress lines on stderr (``[n/N] URL: ...``), without the ``qs-jwt:`` prefix of messages."""
    found = (PROGRESS.match(line) for line in result.stderr.splitlines())
    return [match.group(1) for match in found if match]


def multicloud_idps(tenant: QscloudEmulator) -> list[dict[str, Any]]:
    return [idp for idp in tenant.identity_providers if idp["protocol"] == MULTI_CLOUD]


def changes(emulator: QseowEmulator | QscloudEmulator, start: int = 0) -> list[tuple[str, str]]:
    """The requests from the ``start``-th on that could change something (not GET, not the QSEoW log out)."""
    return [(r.method, r.path) for r in emulator.requests[start:]
            if r.method not in ("GET", "HEAD") and not r.path.endswith(LOGOUT_SUFFIX)]


def jwt_logins(qseow: QseowEmulator) -> list[str]:
    """The JWTs sent to the QSEoW server (each request with an Authorization header is a JWT login)."""
    return [r.headers["authorization"].partition(" ")[2] for r in qseow.requests if "authorization" in r.headers]


def assert_logged_out(qseow: QseowEmulator, logouts_before: int = 0) -> None:
    assert len(qseow.logouts) > logouts_before, "the QSEoW session was not ended"
    assert qseow.sessions == [], "a QSEoW session is left open"


def assert_one_jwt_login(qseow: QseowEmulator, start: int = 0) -> None:
    logins = [r for r in qseow.requests[start:] if "authorization" in r.headers]
    assert len(logins) == 1, [(r.method, r.path) for r in logins]


def refuse_next_idp_post(monkeypatch: pytest.MonkeyPatch, tenant: QscloudEmulator, detail: str) -> None:
    """The tenant refuses its next ``POST /api/v1/identity-providers`` with a 400 in Qlik's error shape (the
    server's ``fail_next`` matches the path only, and the GET that lists the IdPs comes first)."""
    original = tenant.handle
    left = [1]

    def handle(request: Request) -> Response | None:
        if left[0] and request.method == "POST" and request.path.rstrip("/") == IDP_PATH:
            left[0] -= 1
            return Response.json({"errors": [{"code": "IDP-400", "title": "Bad Request", "detail": detail,
                                              "status": "400"}], "traceId": "trace-1"}, 400)
        return original(request)

    monkeypatch.setattr(tenant, "handle", handle)


# --- multicloud setup: the good path ----------------------------------------------------------------------


@pytest.mark.parametrize("token_format", ["json-string", "text"])
def test_setup_creates_a_deployment_and_an_idp_per_tenant_in_file_order(cli, qseow, tenants, ca_bundle, tmp_path,
                                                                        token_format) -> None:
    qseow.set_bearer_token_format(token_format)
    order = (2, 0, 1)
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants, order))
    result = run_setup(cli, qseow, ca_bundle, path)
    assert result.exit_code == 0, result.stderr
    out = lines(result)
    assert [line["tenant"] for line in out] == [tenants[i].url for i in order]
    assert [line["status"] for line in out] == ["created"] * 3
    assert all(line["error"] is None for line in out)

    deployments = qseow.deployments
    assert [(d["name"], d["serviceUrl"]) for d in deployments] == [(f"Tenant {i + 1}", tenants[i].url) for i in order]
    for line, i, deployment in zip(out, order, deployments, strict=True):
        tenant = tenants[i]
        assert line["deploymentId"] == deployment["id"]
        assert deployment["audience"] == "qlik.api" and deployment["localBearerToken"] is True
        (idp,) = tenant.identity_providers
        assert line["identityProviderId"] == idp["id"]
        assert idp["protocol"] == MULTI_CLOUD and idp["provider"] == "qlik" and idp["interactive"] is False
        assert idp["tenantIds"] == [tenant.tenant_id]
        assert isinstance(idp["description"], str) and idp["description"]
        decoded = decode_bearer_token(idp["base64Encoded"])
        assert decoded["hostname"] == tenant.url.removeprefix("https://")
        assert decoded["issuerConfig"]["issuer"] == qseow.site_issuer
        assert decoded["staticKeys"] == [{"kid": qseow.site_kid, "pem": qseow.site_public_pem}]
        # each tenant saw its own API key only, and the tenant id was read from users/me
        assert {r.headers.get("authorization") for r in tenant.requests} == {f"Bearer {QSCLOUD_TENANT_API_KEYS[i]}"}
        assert tenant.requests[0].path == IDP_PATH  # first, the list of its IdPs
        assert "/api/v1/users/me" in [r.path for r in tenant.requests]
        assert changes(tenant) == [("POST", IDP_PATH)]

    shown = progress(result)
    assert len(shown) == 3, result.stderr
    for number, (line, i) in enumerate(zip(shown, order, strict=True), 1):
        assert line.startswith(f"[{number}/3] {tenants[i].url}: created"), line
    # the one --ca-cert bundle served every connection; the JWT was made once; the session was ended
    assert_one_jwt_login(qseow)
    assert not any(key in r.headers.get("authorization", "") for r in qseow.requests for key in QSCLOUD_TENANT_API_KEYS)
    assert_logged_out(qseow)


def test_a_default_deployment_name_is_the_tenant_host(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    rows = [(tenants[0].url, key_file(tmp_path, "t1.txt", QSCLOUD_TENANT_API_KEYS[0]))]
    path = tenants_file(tmp_path, rows, header="tenant,api_key_file")
    result = run_setup(cli, qseow, ca_bundle, path)
    assert result.exit_code == 0, result.stderr
    (deployment,) = qseow.deployments
    assert deployment["name"] == tenants[0].url.removeprefix("https://")
    assert deployment["serviceUrl"] == tenants[0].url


def test_a_rerun_skips_every_tenant_and_creates_nothing(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    first = run_setup(cli, qseow, ca_bundle, path)
    assert first.exit_code == 0, first.stderr
    idps = [multicloud_idps(tenant) for tenant in tenants]
    deployments = qseow.deployments
    starts = [len(emulator.requests) for emulator in (qseow, *tenants)]
    logouts = len(qseow.logouts)

    # the JWT given in a file this time
    token_file = tmp_path / "admin-jwt.txt"
    token_file.write_text(jwt_logins(qseow)[0] + "\n")
    token_file.chmod(0o600)
    again = run_setup(cli, qseow, ca_bundle, path, token=("--jwt-file", str(token_file)))
    assert again.exit_code == 0, again.stderr
    out = lines(again)
    assert [line["status"] for line in out] == ["skipped"] * 3
    assert [line["identityProviderId"] for line in out] == [idp[0]["id"] for idp in idps]
    assert all(line["error"] is None for line in out)
    assert [multicloud_idps(tenant) for tenant in tenants] == idps
    assert qseow.deployments == deployments
    for emulator, start in zip((qseow, *tenants), starts, strict=True):
        new = emulator.requests[start:]
        assert new, "the run read nothing"
        assert changes(emulator, start) == []
    assert [line.split(": ", 1)[1].split(",")[0] for line in progress(again)] == ["skipped"] * 3
    assert_logged_out(qseow, logouts)


def test_replace_makes_new_idps_and_reuses_the_deployments(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    first = run_setup(cli, qseow, ca_bundle, path)
    assert first.exit_code == 0, first.stderr
    old = lines(first)
    deployments = qseow.deployments
    starts = [len(tenant.requests) for tenant in tenants]
    qseow_start = len(qseow.requests)

    result = run_setup(cli, qseow, ca_bundle, path, "--replace")
    assert result.exit_code == 0, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["created"] * 3
    assert [line["deploymentId"] for line in out] == [line["deploymentId"] for line in old]
    assert qseow.deployments == deployments  # reused: none created, none deleted
    assert not any(r.method in ("POST", "DELETE") and "/api/hds/" in r.path.lower()
                   for r in qseow.requests[qseow_start:])
    for tenant, before, after, start in zip(tenants, old, out, starts, strict=True):
        (idp,) = multicloud_idps(tenant)
        assert idp["id"] == after["identityProviderId"] != before["identityProviderId"]
        assert changes(tenant, start) == [("DELETE", f"{IDP_PATH}/{before['identityProviderId']}"),
                                                ("POST", IDP_PATH)]
    assert_one_jwt_login(qseow, qseow_start)
    assert_logged_out(qseow)


# --- dry run ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replace", [False, True], ids=["plain", "replace"])
def test_dry_run_changes_nothing_and_says_what_it_would_do(cli, qseow, tenants, ca_bundle, tmp_path,
                                                           replace) -> None:
    # tenant 2 is set up already
    rows = tenant_rows(tmp_path, tenants)
    done = run_setup(cli, qseow, ca_bundle, tenants_file(tmp_path, [rows[1]]))
    assert done.exit_code == 0, done.stderr
    (existing,) = lines(done)
    deployments = qseow.deployments
    idps = [tenant.identity_providers for tenant in tenants]
    starts = [len(emulator.requests) for emulator in (qseow, *tenants)]

    path = tenants_file(tmp_path, rows)
    result = run_setup(cli, qseow, ca_bundle, path, "--dry-run", *(["--replace"] if replace else []))
    assert result.exit_code == 0, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["would-create", "would-replace" if replace else "skipped",
                                                "would-create"]
    assert [line["tenant"] for line in out] == [tenant.url for tenant in tenants]
    for line in out:
        if line["status"].startswith("would-"):
            assert line["dryRun"] is True, line
        assert line["error"] is None
    assert out[0]["deploymentId"] is None and out[2]["deploymentId"] is None
    assert out[1]["identityProviderId"] == existing["identityProviderId"]
    if replace:
        assert out[1]["deploymentId"] == existing["deploymentId"]  # the one that would be reused
    # nothing changed on either side: only reads (and the QSEoW log out)
    for emulator, start in zip((qseow, *tenants), starts, strict=True):
        assert changes(emulator, start) == []
    assert qseow.deployments == deployments
    assert [tenant.identity_providers for tenant in tenants] == idps
    assert len(progress(result)) == 3
    assert_logged_out(qseow)


# --- failures, exit codes, and re-running after them --------------------------------------------------------


def test_a_wrong_api_key_fails_that_tenant_only_then_a_rerun_fixes_it(cli, qseow, tenants, ca_bundle,
                                                                      tmp_path) -> None:
    rows = tenant_rows(tmp_path, tenants, keys={1: WRONG_KEY})
    path = tenants_file(tmp_path, rows)
    result = run_setup(cli, qseow, ca_bundle, path)
    assert result.exit_code == 4, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed", "created"]
    failed = out[1]
    assert failed["tenant"] == tenants[1].url and "401" in failed["error"]
    assert failed["deploymentId"] is None and failed["identityProviderId"] is None
    assert [d["serviceUrl"] for d in qseow.deployments] == [tenants[0].url, tenants[2].url]
    assert multicloud_idps(tenants[1]) == []
    assert len(multicloud_idps(tenants[0])) == len(multicloud_idps(tenants[2])) == 1
    assert progress(result)[1].startswith(f"[2/3] {tenants[1].url}: failed")
    assert WRONG_KEY not in result.stdout + result.stderr
    assert_logged_out(qseow)

    key_file(tmp_path, "tenant2.txt", QSCLOUD_TENANT_API_KEYS[1])  # fixed
    again = run_setup(cli, qseow, ca_bundle, path)
    assert again.exit_code == 0, again.stderr
    assert [line["status"] for line in lines(again)] == ["skipped", "created", "skipped"]
    assert [d["serviceUrl"] for d in qseow.deployments] == [tenants[0].url, tenants[2].url, tenants[1].url]
    assert len(multicloud_idps(tenants[1])) == 1


@pytest.mark.parametrize("fault", ["idp-refused", "users-me-refused"])
def test_a_failure_after_the_deployment_names_the_orphan_and_a_rerun_reuses_it(cli, qseow, tenants, ca_bundle,
                                                                               tmp_path, monkeypatch, fault) -> None:
    if fault == "idp-refused":
        refuse_next_idp_post(monkeypatch, tenants[1], "base64Encoded is not a valid bearer token")
    else:
        tenants[1].fail_next("/api/v1/users/me", 400, content_type="application/json", body=json.dumps(
            {"errors": [{"code": "HTTP-400", "title": "Bad Request", "detail": "no user", "status": "400"}]}))
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    result = run_setup(cli, qseow, ca_bundle, path)
    assert result.exit_code == 4, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed", "created"]
    failed = out[1]
    orphans = [d for d in qseow.deployments if d["serviceUrl"] == tenants[1].url]
    assert len(orphans) == 1
    orphan = orphans[0]
    assert failed["deploymentId"] == orphan["id"]
    assert failed["identityProviderId"] is None
    assert orphan["id"] in failed["error"] and "Tenant 2" in failed["error"]
    assert "400" in failed["error"]
    assert multicloud_idps(tenants[1]) == []
    assert orphan["id"] in progress(result)[1]
    assert_logged_out(qseow)

    qseow_start = len(qseow.requests)
    again = run_setup(cli, qseow, ca_bundle, path)
    assert again.exit_code == 0, again.stderr
    out = lines(again)
    assert [line["status"] for line in out] == ["skipped", "created", "skipped"]
    assert out[1]["deploymentId"] == orphan["id"]
    assert [d for d in qseow.deployments if d["serviceUrl"] == tenants[1].url] == [orphan]  # no second one
    assert len(qseow.deployments) == 3
    assert not any(r.method == "POST" for r in qseow.requests[qseow_start:])
    (idp,) = multicloud_idps(tenants[1])
    assert idp["id"] == out[1]["identityProviderId"]
    assert decode_bearer_token(idp["base64Encoded"])["hostname"] == tenants[1].url.removeprefix("https://")


def test_a_deployment_name_taken_for_another_tenant_fails_that_tenant(cli, qseow, tenants, ca_bundle,
                                                                      tmp_path) -> None:
    other = qseow.add_deployment("Tenant 2", "https://elsewhere.example.com")
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    result = run_setup(cli, qseow, ca_bundle, path)
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed", "created"]
    assert other["id"] in out[1]["error"] and "https://elsewhere.example.com" in out[1]["error"]
    assert result.exit_code == 1, result.stderr  # a local refusal, not an answer of a Qlik API
    assert multicloud_idps(tenants[1]) == []
    assert len(qseow.deployments) == 3


def test_a_tenant_that_is_down_fails_with_a_connection_error_and_exit_1(cli, qseow, tenants, ca_bundle,
                                                                       tmp_path) -> None:
    rows = [tenant_rows(tmp_path, tenants, (0,))[0], (DOWN_TENANT, key_file(tmp_path, "down.txt", "down-api-key"),
                                                      "Down"),
            tenant_rows(tmp_path, tenants, (1,), keys={1: WRONG_KEY})[0]]
    result = run_setup(cli, qseow, ca_bundle, tenants_file(tmp_path, rows))
    assert result.exit_code == 1, result.stderr  # a failure that is no API answer
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed", "failed"]
    assert out[1]["tenant"] == DOWN_TENANT
    assert any(word in out[1]["error"].lower() for word in ("connect", "refused")), out[1]["error"]
    assert "401" in out[2]["error"]
    assert [d["serviceUrl"] for d in qseow.deployments] == [tenants[0].url]
    assert "down-api-key" not in result.stdout + result.stderr
    assert_logged_out(qseow)


def test_only_a_down_tenant_exits_1(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    rows = [(DOWN_TENANT, key_file(tmp_path, "down.txt", "down-api-key"), "Down"),
            tenant_rows(tmp_path, tenants, (2,))[0]]
    result = run_setup(cli, qseow, ca_bundle, tenants_file(tmp_path, rows))
    assert result.exit_code == 1, result.stderr
    assert [line["status"] for line in lines(result)] == ["failed", "created"]


def test_the_one_ca_bundle_is_used_for_the_tenants_too(cli, qseow, tenants, tmp_path) -> None:
    partial = str(write_ca_bundle(tmp_path / "partial.pem", qseow, tenants[0], tenants[1]))  # not tenant 3's CA
    result = run_setup(cli, qseow, partial, tenants_file(tmp_path, tenant_rows(tmp_path, tenants)))
    assert result.exit_code == 1, result.stderr  # a TLS failure is no API answer
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "created", "failed"]
    assert "certificate" in out[2]["error"].lower(), out[2]["error"]
    assert tenants[2].requests == [] and tenants[2].identity_providers == []
    assert len(qseow.deployments) == 2
    assert_logged_out(qseow)


def test_a_tenant_that_does_not_answer_in_time_fails_alone(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    tenants[1].stall(IDP_PATH, 5)
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    result = cli("multicloud", "setup", "--tenants-file", path, *connection(qseow, ca_bundle, timeout="1"),
                 *MINT)
    assert result.exit_code == 1, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed", "created"]
    assert any(word in out[1]["error"].lower() for word in ("deadline", "timed out", "timeout")), out[1]["error"]
    assert multicloud_idps(tenants[1]) == []
    assert_logged_out(qseow)


def test_a_missing_api_key_file_is_a_local_error(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    rows = [*tenant_rows(tmp_path, tenants, (0,)), (tenants[1].url, "keys/missing.txt", "Tenant 2")]
    result = run_setup(cli, qseow, ca_bundle, tenants_file(tmp_path, rows))
    assert result.exit_code == 1, result.stderr
    out = lines(result)
    assert [line["status"] for line in out] == ["created", "failed"]
    assert "no such file" in out[1]["error"]
    assert tenants[1].requests == []
    assert [d["serviceUrl"] for d in qseow.deployments] == [tenants[0].url]


def test_only_api_failures_exit_4(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    rows = tenant_rows(tmp_path, tenants, keys={0: WRONG_KEY, 2: WRONG_KEY + "-3"})
    result = run_setup(cli, qseow, ca_bundle, tenants_file(tmp_path, rows))
    assert result.exit_code == 4, result.stderr
    assert [line["status"] for line in lines(result)] == ["failed", "created", "failed"]


def test_a_server_without_the_deployments_api(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    qseow.disable_hds()
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    result = run_setup(cli, qseow, ca_bundle, path)
    assert result.exit_code == 4, result.stderr
    assert "deployments API" in result.stderr
    assert "published" in result.stderr or "unofficial" in result.stderr.lower()
    for tenant in tenants:
        assert changes(tenant) == [] and tenant.identity_providers == []
    assert_one_jwt_login(qseow)
    assert_logged_out(qseow)


# --- bad tenants files: usage errors before anything is sent --------------------------------------------------


#: (id, the tenants file with {one} and {two} for tenant URLs, what the message names)
BAD_FILES = [
    ("unknown-column", "tenant,api_key_file,region\n{one},keys/k1.txt,eu\n", ["region"]),
    ("missing-api-key-column", "tenant,name\n{one},Tenant 1\n", ["missing: api_key_file"]),
    ("empty", "", ["no tenant"]),
    ("header-only", "tenant,api_key_file,name\n", ["no tenant"]),
    ("bad-url", "tenant,api_key_file\n{one},keys/k1.txt\nftp://bad.example,keys/k2.txt\n", ["line 3"]),
    ("url-with-path", "tenant,api_key_file\n{one},keys/k1.txt\n{two}/api,keys/k2.txt\n", ["line 3"]),
    ("duplicate", "tenant,api_key_file\n{one},keys/k1.txt\n{two},keys/k2.txt\n{one_upper}/,keys/k3.txt\n",
     ["line 4", "line 2"]),
    ("more-values-than-columns", "tenant,api_key_file\n{one},keys/k1.txt,Tenant 1\n", ["line 2", "more values"]),
    ("no-api-key-file", "tenant,api_key_file\n{one},\n", ["line 2"]),
]


@pytest.mark.parametrize(("text", "mentions"), [pytest.param(text, mentions, id=case)
                                                for case, text, mentions in BAD_FILES])
def test_a_bad_tenants_file_is_a_usage_error_before_any_request(cli, qseow, tenants, ca_bundle, tmp_path, text,
                                                                mentions) -> None:
    for n in (1, 2, 3):
        key_file(tmp_path, f"k{n}.txt", QSCLOUD_TENANT_API_KEYS[n - 1])
    path = tmp_path / "tenants.csv"
    path.write_text(text.format(one=tenants[0].url, two=tenants[1].url, one_upper=tenants[0].url.upper()))
    result = run_setup(cli, qseow, ca_bundle, str(path))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert "--tenants-file" in result.stderr
    for mention in mentions:
        assert mention in result.stderr, result.stderr
    for emulator in (qseow, *tenants):
        assert emulator.requests == []


# --- secrets, and the one JWT ----------------------------------------------------------------------------------


def test_no_secret_in_any_output_at_debug_level(cli, qseow, tenants, ca_bundle, tmp_path, monkeypatch) -> None:
    refuse_next_idp_post(monkeypatch, tenants[2], "refused")
    rows = tenant_rows(tmp_path, tenants, keys={1: WRONG_KEY})
    path = tenants_file(tmp_path, rows)
    first = run_setup(cli, qseow, ca_bundle, path, "--loglevel", "debug")
    assert first.exit_code == 4, first.stderr
    key_file(tmp_path, "tenant2.txt", QSCLOUD_TENANT_API_KEYS[1])
    second = run_setup(cli, qseow, ca_bundle, path, "--loglevel", "debug", "--replace")
    assert second.exit_code == 0, second.stderr
    assert "GET" in second.stderr  # debug lines were written

    jwts = jwt_logins(qseow)
    assert len(jwts) == 2  # one per run
    secrets = [*QSCLOUD_TENANT_API_KEYS, WRONG_KEY]
    for jwt in jwts:
        _header, payload, signature = jwt.split(".")
        secrets += [jwt, payload, signature]
    secrets += qseow.logouts
    assert len(qseow.logouts) == 2
    tokens = [idp["base64Encoded"] for tenant in tenants for idp in multicloud_idps(tenant)]
    assert len(tokens) == 3
    secrets += tokens
    for result in (first, second):
        shown = result.stdout + result.stderr
        for secret in secrets:
            assert secret not in shown, f"a secret is shown: {secret[:12]}..."
    assert qseow.sessions == []


def test_the_jwt_is_minted_once_for_many_tenants(cli, qseow, tenants, ca_bundle, tmp_path) -> None:
    path = tenants_file(tmp_path, tenant_rows(tmp_path, tenants))
    result = run_setup(cli, qseow, ca_bundle, path, "--loglevel", "verbose")
    assert result.exit_code == 0, result.stderr
    hds = [r for r in qseow.requests if "/api/hds/" in r.path.lower()]
    assert len(hds) >= 7  # the list, then a create and a token per tenant
    assert_one_jwt_login(qseow)
    assert qseow.auth_failures == []
    assert_logged_out(qseow)


# --- qseow deployment create | bearer-token ----------------------------------------------------------------------


@pytest.mark.parametrize(("given", "service_url"), [
    ("Tenant-A.example.com", "https://tenant-a.example.com"),
    ("https://tenant-b.example.com/", "https://tenant-b.example.com"),
    ("https://tenant-c.example.com:8443", "https://tenant-c.example.com:8443"),
])
def test_deployment_create_prints_the_deployment(cli, qseow, ca_bundle, given, service_url) -> None:
    result = cli("qseow", "deployment", "create", "--name", "Tenant A", "--tenant", given,
                 *connection(qseow, ca_bundle), *MINT)
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["serviceUrl"] == service_url and created["name"] == "Tenant A"
    assert qseow.deployments == [created]
    assert_one_jwt_login(qseow)
    assert_logged_out(qseow)


def test_deployment_create_with_a_taken_name_exits_4(cli, qseow, ca_bundle) -> None:
    qseow.add_deployment("Tenant A", "https://tenant-a.example.com")
    result = cli("qseow", "deployment", "create", "--name", "tenant a", "--tenant", "tenant-x.example.com",
                 *connection(qseow, ca_bundle), *MINT)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert "409" in result.stderr and "exists already" in result.stderr
    assert len(qseow.deployments) == 1
    assert_logged_out(qseow)


def test_deployment_create_without_the_deployments_api(cli, qseow, ca_bundle) -> None:
    qseow.disable_hds()
    result = cli("qseow", "deployment", "create", "--name", "Tenant A", "--tenant", "tenant-a.example.com",
                 *connection(qseow, ca_bundle), *MINT)
    assert result.exit_code == 4, result.stderr
    assert "deployments API" in result.stderr
    assert_logged_out(qseow)


def test_bearer_token_without_the_deployments_api(cli, qseow, ca_bundle) -> None:
    qseow.disable_hds()
    result = cli("qseow", "deployment", "bearer-token", "00000000-0000-0000-0000-000000000000",
                 *connection(qseow, ca_bundle), *MINT)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert "deployments API" in result.stderr
    assert_one_jwt_login(qseow)
    assert_logged_out(qseow)


def test_bearer_token_is_the_same_base64_in_both_answer_formats(cli, qseow, ca_bundle) -> None:
    deployment = qseow.add_deployment("Tenant A", "https://tenant-a.example.com:8443")
    printed = {}
    for token_format in ("json-string", "text"):
        qseow.set_bearer_token_format(token_format)
        result = cli("qseow", "deployment", "bearer-token", deployment["id"], *connection(qseow, ca_bundle), *MINT)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1
        printed[token_format] = result.stdout.strip()
    assert printed["json-string"] == printed["text"]
    token = printed["text"]
    assert '"' not in token
    decoded = decode_bearer_token(token)  # strict, standard and padded base64 of a JSON object
    assert decoded["issuerConfig"]["issuer"] == qseow.site_issuer
    assert decoded["hostname"] == "tenant-a.example.com:8443"
    assert decoded["staticKeys"] == [{"kid": qseow.site_kid, "pem": qseow.site_public_pem}]
    assert len(qseow.logouts) == 2 and qseow.sessions == []


@pytest.mark.parametrize("token_format", ["json-string", "text"])
def test_bearer_token_decode(cli, qseow, ca_bundle, token_format) -> None:
    qseow.set_bearer_token_format(token_format)
    deployment = qseow.add_deployment("Tenant A", "https://tenant-a.example.com")
    result = cli("qseow", "deployment", "bearer-token", deployment["id"], "--decode", *connection(qseow, ca_bundle),
                 *MINT)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["issuer"] == qseow.site_issuer
    assert shown["kid"] == qseow.site_kid
    assert shown["hostname"] == "tenant-a.example.com"
    (key,) = shown["staticKeys"]
    assert key["kid"] == qseow.site_kid and key["keyType"] == "RSA" and key["keySize"] == 2048
    assert shown["decoded"]["staticKeys"] == [{"kid": qseow.site_kid, "pem": qseow.site_public_pem}]
    assert_logged_out(qseow)


def test_bearer_token_of_an_unknown_deployment_exits_4(cli, qseow, ca_bundle) -> None:
    result = cli("qseow", "deployment", "bearer-token", "00000000-0000-0000-0000-000000000000",
                 *connection(qseow, ca_bundle), *MINT)
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
    assert "404" in result.stderr
    assert "deployments API" not in result.stderr  # the API is there; the id is not
    assert_logged_out(qseow)


def test_a_tenant_with_an_oauth_client_instead_of_an_api_key(run_cli, qseow_emulator_own_ca, qscloud_tenants,
                                                            tmp_path) -> None:
    """The tenants file may name an OAuth client (client_id, client_secret_file, scope) instead of an API key."""
    from qlik_emulator import write_ca_bundle

    tenant = qscloud_tenants[0]
    tenant.add_oauth_client("setup-client", secret="a-long-setup-client-secret", scopes=("admin_classic",))
    (tmp_path / "secret.txt").write_text("a-long-setup-client-secret\n")
    (tmp_path / "tenants.csv").write_text(f"tenant,client_id,client_secret_file,scope\n{tenant.url},setup-client,"
                                          "secret.txt,admin_classic\n")
    bundle = write_ca_bundle(tmp_path / "cas.pem", qseow_emulator_own_ca, tenant)
    result = run_cli("multicloud", "setup", "--server", f"{qseow_emulator_own_ca.url}/jwt", "--ca-cert", str(bundle),
                     "--tenants-file", str(tmp_path / "tenants.csv"), "--timeout", "5", "--cert-privatekey-file",
                     key_path("rsa2048_pkcs8.pem"), "--userdir", "ACME", "--userid", "admin", "--audience", "qlik")
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["status"] == "created"
    assert [idp["protocol"] for idp in tenant.identity_providers] == ["qsefw-local-bearer-token"]
    assert len(tenant.oauth_tokens_issued) == 1
    assert "a-long-setup-client-secret" not in result.stderr


def test_a_row_with_both_an_api_key_and_an_oauth_client_is_a_usage_error(run_cli, tmp_path) -> None:
    (tmp_path / "tenants.csv").write_text("tenant,api_key_file,client_id,client_secret_file\n"
                                          "t.example.com,k.txt,c,s.txt\n")
    result = run_cli("multicloud", "setup", "--server", "https://127.0.0.1:9/jwt", "--tenants-file",
                     str(tmp_path / "tenants.csv"), "--jwt", "eyJ.e30.x", "--timeout", "2")
    assert result.exit_code == 2 and "line 2" in result.stderr and "one of the two" in result.stderr
