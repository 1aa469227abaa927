"""Bulk minting: ``qs_jwt.batch`` (rows in, tokens out, in order, in worker processes) and ``qs-jwt batch``.

The command-line tests run ``qs-jwt batch ...`` through the ``run_cli`` fixture; the parser tests build a parser
of their own with ``qs_jwt.cli._batch.add_parser``. Inputs are small and signed with the 2048-bit test key;
the worker-process tests (spawn) use about 2000 rows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qs_jwt
from conftest import FIXED_NOW, ROOT, key_bytes, key_path
from qs_jwt import batch
from qs_jwt.batch import BatchMinter, BatchSummary, OutputFile, Result, Row, mint_rows, read_rows, write_results

KEY = key_path("rsa2048_pkcs8.pem")
PUBLIC = key_bytes("rsa2048_public.pem")
QSCLOUD = ["--cert-privatekey-file", KEY, "--issuer", "my-app", "--keyid", "my-key"]
QSEOW = ["--cert-privatekey-file", KEY, "--audience", "qlik"]
HEADER = "sub,username,useremail,useremail_verified,groups\n"
SETTINGS = qs_jwt.QsCloudSettings(issuer="my-app", keyid="my-key")
QSEOW_SETTINGS = qs_jwt.QseowSettings(audience="qlik", expires="1h")
SRC = str(ROOT / "src")
#: file modes and symbolic links as POSIX has them (on Windows a file's ACL protects it; see README, Windows)
POSIX = os.name != "nt"


def _assert_private(path: Path) -> None:
    if POSIX:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)


@pytest.fixture(scope="module")
def factory() -> qs_jwt.QsCloudTokenFactory:
    return qs_jwt.QsCloudTokenFactory(key_bytes("rsa2048_pkcs8.pem"), SETTINGS)


def _rows(text: str, fmt: str = "csv", settings: object = SETTINGS, **kwargs: object) -> list[Row]:
    return list(read_rows(io.BytesIO(text.encode("utf-8")), fmt, settings, **kwargs))  # type: ignore[arg-type]


def _jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def _payload(token: str, now: float = FIXED_NOW) -> dict[str, object]:
    result = qs_jwt.verify(token, PUBLIC, now=now)
    assert result.ok, result.errors
    return result.decoded.payload


def _users_csv(count: int) -> str:
    return HEADER + "".join(f"user-{i},User {i},user{i}@example.com,true,Sales;Team {i % 3}\n" for i in range(count))


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- formats and rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("users.csv", "csv"), ("U.CSV", "csv"), ("a/users.jsonl", "jsonl"),
                                           ("x.ndjson", "jsonl"), ("users.txt", None), ("users", None)])
def test_formats_from_file_names(name: str, fmt: str | None) -> None:
    assert batch.input_format_for(name) == fmt
    assert batch.output_format_for(name) == fmt


def test_csv_rows_line_numbers_groups_and_empty_cells() -> None:
    text = ("\ufeff" + HEADER + "alice,Alice Smith,alice@example.com,true, Sales ; Team A ;\n"
            "\n"
            '"bob","Bob, ""the"" builder",,,\n'
            '"carol","Carol\nWhite",,,\n'
            "dave,,,,\n")
    rows = _rows(text)
    assert [row.line for row in rows] == [2, 4, 5, 7]  # the header is line 1; a blank line is skipped
    assert rows[0].values == {"sub": "alice", "username": "Alice Smith", "useremail": "alice@example.com",
                              "useremail_verified": "true", "groups": ["Sales", "Team A"]}
    assert rows[1].values == {"sub": "bob", "username": 'Bob, "the" builder'}
    assert rows[2].values == {"sub": "carol", "username": "Carol\nWhite"}
    assert rows[3].values == {"sub": "dave"} and all(row.error is None for row in rows)


def test_csv_row_with_too_many_values_is_an_error_row() -> None:
    (row,) = _rows("sub,username\nalice,Alice,extra\n")
    assert row.line == 2 and row.error == "3 values, but the header has 2 columns"


def test_jsonl_rows() -> None:
    text = ('{"sub": "alice", "groups": ["Sales", "Team A"], "useremail_verified": true, "username": null}\n'
            "\n"
            '{"sub": "bob", "zz": 1}\n'
            "not json\n"
            '[1, 2]\n'
            '{"sub": "carol", "groups": "Sales"}\n'
            '{"sub": "dave", "sub": "eve"}\n')
    rows = _rows(text, "jsonl")
    assert [row.line for row in rows] == [1, 3, 4, 5, 6, 7]
    assert rows[0] == Row(1, {"sub": "alice", "groups": ["Sales", "Team A"], "useremail_verified": True})
    assert [row.error for row in rows[1:]] == ["unknown key 'zz'", "not valid JSON", "not a JSON object",
                                               "groups: expected a JSON array of group names",
                                               "a JSON object that repeats a key"]


def test_unknown_csv_column_is_refused_naming_it() -> None:
    with pytest.raises(qs_jwt.InvalidValueError) as caught:
        _rows("sub,department\nalice,Sales\n")
    assert caught.value.param == "columns"
    assert "unknown column 'department'" in str(caught.value)
    assert "extra_columns_as_claims" in str(caught.value)


def test_unknown_key_on_the_first_json_line_is_refused() -> None:
    with pytest.raises(qs_jwt.InvalidValueError, match="line 1: unknown column 'team'"):
        _rows('{"sub": "a", "team": "x"}\n', "jsonl")
    with pytest.raises(qs_jwt.InvalidValueError, match=r"line 2: not valid JSON .*csv"):
        _rows("\nsub,username\n", "jsonl")


@pytest.mark.parametrize(("header", "message"), [
    ("username,groups", "a sub or a useremail column is required"),
    ("sub,sub", "the column 'sub' appears twice"),
    ("sub,,groups", "column 2 has no name"),
])
def test_bad_csv_headers(header: str, message: str) -> None:
    with pytest.raises(qs_jwt.InvalidValueError, match=message):
        _rows(header + "\n")


def test_qseow_header_needs_userid_and_userdir() -> None:
    with pytest.raises(qs_jwt.InvalidValueError, match="a userdir column is required"):
        _rows("userid,username\n", settings=QSEOW_SETTINGS)
    assert _rows("userid,userdir\nalice,ACME\n", settings=QSEOW_SETTINGS)[0].values == {"userid": "alice",
                                                                                        "userdir": "ACME"}


def test_extra_columns_as_claims_are_parsed_like_claim_options() -> None:
    text = 'sub,level,tags,flag,team,code,empty\nalice,3,"[""a"",""b""]",true,Sales,"""007""",\n'
    (row,) = _rows(text, extra_columns_as_claims=True)
    assert row.values == {"sub": "alice", "level": 3, "tags": ["a", "b"], "flag": True, "team": "Sales",
                          "code": "007"}
    (row,) = _rows('{"sub": "alice", "level": "3", "tags": {"a": [1]}}\n', "jsonl", extra_columns_as_claims=True)
    assert row.values == {"sub": "alice", "level": "3", "tags": {"a": [1]}}  # JSON values as they are


@pytest.mark.parametrize(("column", "message"), [
    ("email", "the column 'email' cannot be a claim: the token sets 'email' itself; the column useremail sets it"),
    ("jti", "the column 'jti' cannot be a claim"),
    ("a=b", "its name contains '='"),
])
def test_extra_columns_cannot_be_claims_the_token_sets(column: str, message: str) -> None:
    with pytest.raises(qs_jwt.InvalidValueError, match=message.replace("(", r"\(")):
        _rows(f"sub,{column}\nalice,x\n", extra_columns_as_claims=True)


def test_an_extra_column_may_not_repeat_a_shared_claim() -> None:
    settings = qs_jwt.QsCloudSettings(issuer="i", keyid="k", extra_claims={"team": "all"})
    with pytest.raises(qs_jwt.InvalidValueError, match="'team' is a claim that extra_claims already gives"):
        _rows("sub,team\nalice,x\n", settings=settings, extra_columns_as_claims=True)


def test_an_over_long_line_is_an_error_row_and_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 64)
    rows = _rows(HEADER + "alice,,,,\n" + "bob," + "x" * 500 + ",,,\n" + "carol,,,,\n")
    assert [(row.line, row.error) for row in rows] == [
        (2, None), (3, "the line is longer than 64 bytes"), (4, None)]
    rows = _rows('{"sub": "a"}\n{"sub": "' + "x" * 500 + '"}\n{"sub": "c"}\n', "jsonl")
    assert [row.error for row in rows] == [None, "the line is longer than 64 bytes", None]


# --- minting ---------------------------------------------------------------------------------------------


def test_mint_rows_in_process(factory: qs_jwt.QsCloudTokenFactory, fixed_now: int) -> None:
    rows = _rows(HEADER + "alice,Alice,alice@example.com,yes,Sales;Team A\n"
                 ",,bob@example.com,0,\n"
                 ",Carol,,,\n"
                 "dave,,dave@example.com,maybe,\n", extra_columns_as_claims=True)
    results = list(mint_rows(factory, rows, workers=1))
    assert [r.line for r in results] == [2, 3, 4, 5]
    alice, bob = (_payload(r.token) for r in results[:2] if r.token)
    assert alice["sub"] == "alice" and alice["email_verified"] is True and alice["groups"] == ["Sales", "Team A"]
    assert alice["iat"] == alice["nbf"] == FIXED_NOW and alice["exp"] == FIXED_NOW + 300
    assert bob["sub"] == bob["email"] == "bob@example.com" and bob["email_verified"] is False
    assert results[1].subject == "bob@example.com"
    assert results[2].error is not None and results[2].error.startswith("sub: a subject is required")
    assert results[3].error == "useremail_verified: expected true or false (or yes/no, 1/0)"
    assert alice["jti"] != bob["jti"]


def test_two_pass_tokens_are_the_signers_own(factory: qs_jwt.QsCloudTokenFactory) -> None:
    (result,) = mint_rows(factory, [Row(2, {"sub": "alice", "groups": ["a"]})], workers=1, now=FIXED_NOW)
    assert result.token is not None
    decoded = qs_jwt.decode_unverified(result.token)
    assert decoded.header == SETTINGS.header()
    head = result.token.split(".", 1)[0]
    assert factory.signer.sign_encoded("RS256", head, decoded.payload) == result.token  # PKCS#1 v1.5: same bytes


def test_a_signer_without_the_full_key_check_signs_row_by_row() -> None:
    signer = qs_jwt.Signer(key_bytes("rsa2048_pkcs8.pem"))  # verifies every signature instead
    factory = qs_jwt.QsCloudTokenFactory(signer, SETTINGS)
    results = list(mint_rows(factory, [Row(2, {"sub": "a"}), Row(3, {"sub": ""})], workers=1, now=FIXED_NOW))
    assert _payload(results[0].token or "")["sub"] == "a"
    assert results[1] == Result(3, error="sub: the value must not be empty")


def test_qseow_rows(fixed_now: int) -> None:
    settings = qs_jwt.QseowSettings(audience="qlik", expires="1h", groups_claim="group",
                                    extra_claims={"site": "eu"})
    factory = qs_jwt.QseowTokenFactory(key_bytes("rsa2048_pkcs8.pem"), settings)
    rows = _rows('{"userid": "alice", "userdir": "ACME", "groups": ["Sales"], "role": "analyst"}\n'
                 '{"userid": "bob"}\n', "jsonl", settings=settings, extra_columns_as_claims=True)
    alice, bob = mint_rows(factory, rows, workers=1)
    payload = _payload(alice.token or "")
    assert alice.subject == "alice"
    assert payload == {"userId": "alice", "userDirectory": "ACME", "group": ["Sales"], "site": "eu", "role": "analyst",
                       "iat": FIXED_NOW, "exp": FIXED_NOW + 3600, "aud": "qlik"}
    assert bob == Result(2, error="userdir: a value is required")


def test_worker_processes_keep_the_input_order(factory: qs_jwt.QsCloudTokenFactory) -> None:
    rows = _rows(_users_csv(2000) + ",nobody,,,\n")
    results = list(mint_rows(factory, rows, workers=2, chunk_size=100))  # 21 tasks over two spawned workers
    assert [r.line for r in results] == list(range(2, 2003))
    assert [r.subject for r in results[:-1]] == [f"user-{i}" for i in range(2000)]
    assert results[-1].error is not None and results[-1].token is None
    payloads = [_payload(r.token, now=time.time()) for r in results[:-1] if r.token]
    assert [p["sub"] for p in payloads] == [f"user-{i}" for i in range(2000)]
    assert len({p["jti"] for p in payloads}) == 2000


def test_batch_minter_start_and_arguments(factory: qs_jwt.QsCloudTokenFactory) -> None:
    with pytest.raises(qs_jwt.InvalidValueError, match="workers"):
        BatchMinter(factory, workers=0)
    with pytest.raises(qs_jwt.ArgumentTypeError):
        BatchMinter(factory, workers=True)
    with pytest.raises(qs_jwt.ArgumentTypeError):
        BatchMinter("not a factory", workers=1)  # type: ignore[arg-type]
    with pytest.raises(qs_jwt.InvalidValueError, match="now"):
        mint_rows(factory, [], now=-1)
    assert BatchMinter(factory, workers=1).chunk_size == batch.DEFAULT_CHUNK_SIZE
    assert BatchMinter(qs_jwt.QsCloudTokenFactory(key_bytes("rsa4096_pkcs8.pem"), SETTINGS)).chunk_size == 64
    with BatchMinter(factory, workers=2, chunk_size=10) as minter:
        minter.start(wait=True)  # both processes up, the key loaded
        results = list(minter.mint(Row(n, {"sub": f"u{n}"}) for n in range(2, 32)))
    assert [r.subject for r in results] == [f"u{n}" for n in range(2, 32)]


def test_default_workers_are_the_usable_cpus() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert batch.default_workers() == expected


# --- output ----------------------------------------------------------------------------------------------


RESULTS = [Result(2, "alice", "eyJ.a.b"), Result(3, error='bad "x"'), Result(4, "b\u202eob", "eyJ.c.d")]


def test_write_results_jsonl_and_csv() -> None:
    out = io.BytesIO()
    summary = write_results(RESULTS, out, "jsonl")
    assert out.getvalue().decode() == (
        '{"line": 2, "sub": "alice", "token": "eyJ.a.b"}\n'
        '{"line": 3, "error": "bad \\"x\\""}\n'
        '{"line": 4, "sub": "b\\u202eob", "token": "eyJ.c.d"}\n')  # a bidi override escaped
    assert (summary.rows, summary.tokens, summary.errors, summary.error_lines) == (3, 2, 1, [3])
    out = io.BytesIO()
    write_results(RESULTS[:2], out, "csv", id_field="userid")
    assert out.getvalue().decode() == 'line,userid,token,error\n2,alice,eyJ.a.b,\n3,,,"bad ""x"""\n'


@pytest.mark.parametrize(("rows", "errors", "text"), [
    (100000, [17, 20], "100000 rows: 99998 tokens, 2 errors (lines 17, 20)"),
    (1, [], "1 row: 1 token, 0 errors"),
    (3, [4], "3 rows: 2 tokens, 1 error (line 4)"),
    (30, list(range(2, 32)), "30 rows: 0 tokens, 30 errors (lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 20 more)"),
])
def test_summary_text(rows: int, errors: list[int], text: str) -> None:
    summary = BatchSummary()
    bad = set(errors)
    for line in range(2, 2 + rows):
        summary.add(Result(line, error="x") if line in bad else Result(line, "s", "t"))
    assert str(summary) == text and summary.ok == (not errors)


def test_output_file_appears_whole_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "tokens.jsonl"
    with OutputFile(str(target)) as out:
        out.write(b"data\n")
        assert not target.exists()
        (temp,) = tmp_path.iterdir()
        assert temp.name.startswith(batch.TEMP_PREFIX) and temp.name.endswith(batch.TEMP_SUFFIX)
        _assert_private(temp)
    assert target.read_bytes() == b"data\n"
    _assert_private(target)
    assert list(tmp_path.iterdir()) == [target]


def test_output_file_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "tokens.jsonl"
    with pytest.raises(RuntimeError), OutputFile(str(target)) as out:
        out.write(b"partial")
        raise RuntimeError("crash")
    with pytest.raises(KeyboardInterrupt), OutputFile(str(target)) as out:
        out.write(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_output_file_never_replaces_without_force(tmp_path: Path) -> None:
    target = tmp_path / "tokens.jsonl"
    target.write_bytes(b"old")
    with pytest.raises(qs_jwt.OutputExistsError):
        OutputFile(str(target))
    late = tmp_path / "late.jsonl"
    writer = OutputFile(str(late))
    writer.__enter__().write(b"new")
    late.write_bytes(b"theirs")  # a file that appears while the batch runs is not replaced either
    with pytest.raises(qs_jwt.OutputExistsError):
        writer.__exit__(None, None, None)
    assert late.read_bytes() == b"theirs"
    with OutputFile(str(target), force=True) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.jsonl", "tokens.jsonl"]  # no temporary file


def test_output_file_refusals(tmp_path: Path) -> None:
    with pytest.raises(qs_jwt.FileWriteError, match="does not exist"):
        OutputFile(str(tmp_path / "missing" / "t.jsonl"))
    with pytest.raises(qs_jwt.FileWriteError, match="is a directory"):
        OutputFile(str(tmp_path))
    if not POSIX:
        return  # symbolic links need a privilege on Windows
    (tmp_path / "real").write_bytes(b"")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real")
    with pytest.raises(qs_jwt.FileWriteError, match="symbolic link"):
        OutputFile(str(tmp_path / "link.jsonl"), force=True)


# --- the parser (without the command table of qs_jwt.cli) --------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from qs_jwt.cli import _Formatter, _Parser
    from qs_jwt.cli._batch import add_parser

    parser = _Parser(prog="qs-jwt", allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    def command(name: str, help_text: str, description: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=description, epilog=example,
                                   formatter_class=_Formatter, allow_abbrev=False)

    add_parser(commands, command)
    return parser


def test_parser_defaults() -> None:
    parser = _parser()
    qscloud = parser.parse_args(["batch", "qscloud", "--input", "u.csv", "--output", "-", "--issuer", "i",
                                 "--keyid", "k"])
    assert (qscloud.batch_command, qscloud.expires, qscloud.workers, qscloud.force_output) == ("qscloud", "5m", None,
                                                                                              False)
    qseow = parser.parse_args(["batch", "qseow", "--input", "u.csv", "--output", "-", "--audience", "a"])
    assert (qseow.expires, qseow.userid_claim, qseow.groups_claim) == ("1h", "userId", None)  # 1h for batch


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "257"])
def test_parser_refuses_bad_worker_counts(value: str) -> None:
    from qs_jwt.cli import UsageError

    with pytest.raises(UsageError, match="--workers: expected a whole number"):
        _parser().parse_args(["batch", "qscloud", "--input", "u.csv", "--output", "-", "--issuer", "i",
                              "--keyid", "k", f"--workers={value}"])


def test_listing_only_adds_the_command() -> None:
    from qs_jwt.cli import _Parser
    from qs_jwt.cli._batch import add_parser

    commands = _Parser(prog="qs-jwt").add_subparsers(dest="command", parser_class=_Parser)
    made = add_parser(commands, lambda *a: commands.add_parser(a[0], help=a[1]), full=False)
    assert list(commands.choices) == ["batch"] and not any(
        isinstance(action, argparse._SubParsersAction) for action in made._actions)


# --- the command line --------------------------------------------------------------------------------------


def test_csv_in_jsonl_out(run_cli, tmp_path, fixed_now) -> None:
    users = _write(tmp_path / "users.csv", HEADER + "alice,Alice Smith,alice@example.com,true,Sales;Team A\n"
                   "bob,,bob@example.com,no,\n")
    out = tmp_path / "tokens.jsonl"
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert f"qs-jwt: wrote {out} (mode 0600; it holds tokens)\n" in r.stderr
    assert r.stderr.endswith("qs-jwt: 2 rows: 2 tokens, 0 errors\n")
    _assert_private(out)
    alice, bob = _jsonl(out.read_text())
    assert (alice["line"], alice["sub"], bob["line"], bob["sub"]) == (2, "alice", 3, "bob")
    payload = _payload(str(alice["token"]))
    assert payload["groups"] == ["Sales", "Team A"] and payload["name"] == "Alice Smith"
    assert payload["iss"] == "my-app" and _payload(str(bob["token"]))["email_verified"] is False
    assert qs_jwt.decode_unverified(str(alice["token"])).header["kid"] == "my-key"


def test_jsonl_in_csv_out_for_qseow(run_cli, tmp_path, fixed_now) -> None:
    users = _write(tmp_path / "users.ndjson", '{"userid": "alice", "userdir": "ACME", "groups": ["Sales"]}\n'
                   '{"userid": "bob", "userdir": "ACME", "useremail": "bob@example.com"}\n')
    out = tmp_path / "tokens.csv"
    r = run_cli("batch", "qseow", "--input", users, "--output", str(out), *QSEOW, "--groups-claim", "group")
    assert r.exit_code == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "line,userid,token,error"
    first = lines[1].split(",")
    assert first[:2] == ["1", "alice"] and first[3] == ""
    payload = _payload(first[2])
    assert payload["group"] == ["Sales"] and payload["exp"] == FIXED_NOW + 3600  # --expires defaults to 1h
    assert lines[2].startswith("2,bob,eyJ")


def test_stdin_and_stdout(run_cli, fixed_now) -> None:
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", *QSCLOUD,
                stdin="sub\nalice\nbob\n")
    assert r.exit_code == 0, r.stderr
    assert [(row["line"], row["sub"]) for row in _jsonl(r.stdout)] == [(2, "alice"), (3, "bob")]
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "jsonl", "--output", "-", "--output-format",
                "csv", *QSCLOUD, stdin='{"sub": "alice"}\n')
    assert r.exit_code == 0 and r.stdout.startswith("line,sub,token,error\n1,alice,eyJ")


def test_stdin_needs_an_input_format(run_cli) -> None:
    r = run_cli("batch", "qscloud", "--input", "-", "--output", "-", *QSCLOUD, stdin="sub\nalice\n")
    assert r.exit_code == 2 and r.stdout == ""
    assert "--input-format: give csv or jsonl: standard input has no file name" in r.stderr


def test_format_options_win_over_file_names(run_cli, tmp_path) -> None:
    users = _write(tmp_path / "users.txt", '{"sub": "alice"}\n')
    out = tmp_path / "tokens.txt"
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD)
    assert r.exit_code == 2 and "--input-format: give csv or jsonl" in r.stderr
    r = run_cli("batch", "qscloud", "--input", users, "--input-format", "jsonl", "--output", str(out), *QSCLOUD)
    assert r.exit_code == 2 and "--output-format: give jsonl or csv" in r.stderr
    r = run_cli("batch", "qscloud", "--input", users, "--input-format", "jsonl", "--output", str(out),
                "--output-format", "csv", *QSCLOUD)
    assert r.exit_code == 0 and out.read_text().startswith("line,sub,token,error\n1,alice,")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("YES", True), ("1", True), ("false", False),
                                             ("no", False), ("0", False)])
def test_useremail_verified_values(run_cli, fixed_now, text: str, value: bool) -> None:
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", *QSCLOUD,
                stdin=f"useremail,useremail_verified\na@example.com,{text}\n")
    assert r.exit_code == 0
    assert _payload(str(_jsonl(r.stdout)[0]["token"]))["email_verified"] is value


def test_extra_columns_as_claims(run_cli, tmp_path, fixed_now) -> None:
    text = 'sub,department,level,tags\nalice,Sales,3,"[""a"",""b""]"\nbob,,,\n'
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", *QSCLOUD,
                "--extra-columns-as-claims", "--claim", "site=eu", stdin=text)
    assert r.exit_code == 0, r.stderr
    alice, bob = (_payload(str(row["token"])) for row in _jsonl(r.stdout))
    assert (alice["department"], alice["level"], alice["tags"], alice["site"]) == ("Sales", 3, ["a", "b"], "eu")
    assert "department" not in bob and bob["site"] == "eu"


def test_an_unknown_column_is_a_usage_error_before_anything_is_made(run_cli, tmp_path, monkeypatch) -> None:
    users = _write(tmp_path / "users.csv", "sub,department\nalice,Sales\n")
    out = tmp_path / "tokens.jsonl"
    monkeypatch.setattr(qs_jwt.QsCloudTokenFactory, "__init__", _must_not_run)  # the key is not even loaded
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD)
    assert r.exit_code == 2
    assert ("qs-jwt: error: --input: line 1: unknown column 'department': the columns are sub, username, useremail, "
            "useremail_verified, groups (--extra-columns-as-claims sends other columns as claims)") in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "users.csv"]
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", *QSCLOUD,
                "--extra-columns-as-claims", "--claim", "team=x", stdin="sub,team\na,b\n")
    assert r.exit_code == 2 and "the column 'team' is a claim that --claim already gives every token" in r.stderr


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("called")


def test_bad_rows_become_error_rows_and_exit_1(run_cli, tmp_path, fixed_now) -> None:
    users = _write(tmp_path / "users.csv", HEADER + "alice,,,,\n"
                   ",Nobody,,,\n"
                   "carol,,carol@example.com,maybe,\n"
                   "dave,,,,\n")
    out = tmp_path / "tokens.jsonl"
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD)
    assert r.exit_code == 1
    rows = _jsonl(out.read_text())
    assert [row["line"] for row in rows] == [2, 3, 4, 5]
    assert rows[1] == {"line": 3, "error": "sub: a subject is required: give sub (the user's stable id in Qlik "
                                          "Cloud) or useremail"}
    assert rows[2] == {"line": 4, "error": "useremail_verified: expected true or false (or yes/no, 1/0)"}
    assert _payload(str(rows[0]["token"]))["sub"] == "alice" and _payload(str(rows[3]["token"]))["sub"] == "dave"
    assert "qs-jwt: warning: line 4: useremail_verified: expected true or false (or yes/no, 1/0)\n" in r.stderr
    assert r.stderr.endswith("qs-jwt: error: 4 rows: 2 tokens, 2 errors (lines 3, 4)\n")
    for row in rows[::3]:  # no token in any message
        assert str(row["token"]).split(".")[1] not in r.stderr


def test_order_kept_with_two_worker_processes(run_cli, tmp_path) -> None:
    users = _write(tmp_path / "users.csv", _users_csv(2000))
    out = tmp_path / "tokens.jsonl"
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD, "--workers", "2")
    assert r.exit_code == 0, r.stderr
    rows = _jsonl(out.read_text())
    assert [row["line"] for row in rows] == list(range(2, 2002))
    payloads = [_payload(str(row["token"]), now=time.time()) for row in rows]
    assert [p["sub"] for p in payloads] == [row["sub"] for row in rows] == [f"user-{i}" for i in range(2000)]
    assert len({p["jti"] for p in payloads}) == 2000


def test_existing_output_is_refused_without_force(run_cli, tmp_path) -> None:
    users = _write(tmp_path / "users.csv", "sub\nalice\n")
    out = tmp_path / "tokens.jsonl"
    out.write_text("keep me\n")
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD)
    assert r.exit_code == 1
    assert f"refusing to overwrite existing file(s): {out} (--force replaces it)" in r.stderr
    assert out.read_text() == "keep me\n"
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD, "--force")
    assert r.exit_code == 0 and _jsonl(out.read_text())[0]["sub"] == "alice"
    _assert_private(out)
    r = run_cli("batch", "qscloud", "--input", users, "--output", users, *QSCLOUD, "--output-format", "csv", "--force")
    assert r.exit_code == 2 and "--output is the --input file" in r.stderr


@pytest.mark.parametrize(("failure", "code", "message"), [(RuntimeError, 1, "internal error (RuntimeError)"),
                                                      (KeyboardInterrupt, 130, "interrupted")])
def test_a_failure_mid_run_leaves_no_file(run_cli, tmp_path, monkeypatch, failure, code, message) -> None:
    users = _write(tmp_path / "users.csv", _users_csv(600))  # three chunks of 256 rows
    out = tmp_path / "tokens.jsonl"
    calls = {"n": 0}
    real = batch._Minter.mint

    def flaky(self, rows, now):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # after the first chunk was written
            raise failure()
        return real(self, rows, now)

    monkeypatch.setattr(batch._Minter, "mint", flaky)
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD, "--workers", "1")
    assert r.exit_code == code and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert calls["n"] == 2
    assert list(tmp_path.iterdir()) == [tmp_path / "users.csv"]  # no partial file, no temporary file


def test_a_full_disk_leaves_no_file(run_cli, tmp_path, monkeypatch) -> None:
    users = _write(tmp_path / "users.csv", _users_csv(600))
    out = tmp_path / "tokens.jsonl"
    real_enter = batch.OutputFile.__enter__

    class Full:
        def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
            self.handle, self.writes = handle, 0

        def write(self, data: bytes) -> int:
            self.writes += 1
            if self.writes == 2:
                raise OSError(28, "No space left on device")
            return int(self.handle.write(data))

        def flush(self) -> None:
            self.handle.flush()

    monkeypatch.setattr(batch.OutputFile, "__enter__", lambda self: Full(real_enter(self)))
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(out), *QSCLOUD, "--workers", "1")
    assert r.exit_code == 1 and f"qs-jwt: error: cannot write {out}: No space left on device" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "users.csv"]


def test_usage_errors(run_cli, tmp_path) -> None:
    users = _write(tmp_path / "users.csv", "sub\nalice\n")
    for argv, message in [
        (["--workers", "0"], "--workers: expected a whole number of signing processes from 1 to 256"),
        (["--workers", "many"], "--workers: expected a whole number"),
        (["--expires", "2h"], "--expires: 2 h (7200 s) exceeds Qlik Cloud's limit"),
        (["--algorithm", "HS256"], "--algorithm: invalid value"),
        (["--claim", "sub=x"], "--claim: 'sub' is reserved"),
    ]:
        r = run_cli("batch", "qscloud", "--input", users, "--output", "-", *QSCLOUD, *argv)
        assert r.exit_code == 2 and message in r.stderr, (argv, r.stderr)
        assert r.stdout == ""
    r = run_cli("batch")
    assert r.exit_code == 2 and "choose a subcommand" in r.stderr
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", "--issuer", "i",
                "--keyid", "k", "--cert-privatekey-file", "-", stdin="sub\na\n")
    assert r.exit_code == 2 and "cannot both read standard input" in r.stderr
    r = run_cli("batch", "qscloud", "--input", users, "--output", "-", "--issuer", "i", "--keyid", "k")
    assert r.exit_code == 2 and "no signing key" in r.stderr


def test_allow_long_lifetime_warns(run_cli, fixed_now) -> None:
    r = run_cli("batch", "qscloud", "--input", "-", "--input-format", "csv", "--output", "-", *QSCLOUD,
                "--expires", "2h", "--allow-long-lifetime", stdin="sub\nalice\n")
    assert r.exit_code == 0 and "qs-jwt: warning:" in r.stderr and "Qlik Cloud will reject" in r.stderr
    assert _payload(str(_jsonl(r.stdout)[0]["token"]))["exp"] == FIXED_NOW + 7200


def test_key_from_the_environment(run_cli, fixed_now) -> None:
    r = run_cli("batch", "qseow", "--input", "-", "--input-format", "jsonl", "--output", "-", "--audience", "qlik",
                stdin='{"userid": "a", "userdir": "D"}\n',
                env={"QS_JWT_PRIVATE_KEY": key_bytes("rsa2048_pkcs1.pem").decode()})
    assert r.exit_code == 0 and _payload(str(_jsonl(r.stdout)[0]["token"]))["userId"] == "a"


def test_missing_input_file(run_cli, tmp_path) -> None:
    r = run_cli("batch", "qscloud", "--input", str(tmp_path / "nope.csv"), "--output", "-", *QSCLOUD)
    assert r.exit_code == 1 and f"--input: {tmp_path / 'nope.csv'}: no such file" in r.stderr


def test_key_text_or_a_token_as_a_value_is_never_echoed(run_cli, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    pem = key_bytes("rsa2048_pkcs8.pem").decode()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    token = qs_jwt.create_qscloud_token(pem.encode(), issuer="i", keyid="k", sub="s").token
    users = _write(tmp_path / "users.csv", "sub\nalice\n")
    for option in ("--input", "--output", "--issuer", "--keyid", "--expires", "--claim", "--cert-privatekey-file",
                   "--cert-privatekey-passphrase-file", "--workers"):
        for value in (pem, token):
            argv = ["--input", users, "--output", "-", *QSCLOUD]
            if option in argv:
                index = argv.index(option)
                del argv[index:index + 2]
            r = run_cli("batch", "qscloud", *argv, option, value, "--loglevel", "debug")
            assert not any(line in r.stderr for line in body), (option, r.stderr)
            assert token.split(".")[1] not in r.stderr and "Traceback" not in r.stderr, (option, r.stderr)


def test_no_progress_line_when_stderr_is_not_a_terminal(run_cli, tmp_path) -> None:
    users = _write(tmp_path / "users.csv", _users_csv(300))
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(tmp_path / "t.jsonl"), *QSCLOUD,
                "--workers", "1")
    assert r.exit_code == 0 and "\r" not in r.stderr and " rows  " not in r.stderr


def test_progress_line_on_a_terminal(run_cli, tmp_path, monkeypatch) -> None:
    from qs_jwt.cli import _batch

    monkeypatch.setattr(_batch, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    users = _write(tmp_path / "users.csv", _users_csv(300))
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(tmp_path / "t.jsonl"), *QSCLOUD,
                "--workers", "1")
    assert r.exit_code == 0 and "\r300 / 300 rows  100%" in r.stderr, r.stderr
    assert r.stderr.endswith("qs-jwt: 300 rows: 300 tokens, 0 errors\n")  # the progress line was cleared first
    r = run_cli("batch", "qscloud", "--input", users, "--output", str(tmp_path / "u.jsonl"), *QSCLOUD,
                "--workers", "1", "--no-progress")
    assert r.exit_code == 0 and "\r" not in r.stderr


def test_minting_does_not_import_pyjwt_or_httpx(tmp_path) -> None:
    users = _write(tmp_path / "users.csv", "sub\nalice\n")
    code = ("import sys; from qs_jwt.cli import main; "
            f"rc = main(['batch', 'qscloud', '--input', {users!r}, '--output', '-', *{QSCLOUD!r}]); "
            "print(rc, 'jwt' in sys.modules, 'httpx' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert r.stderr.decode().strip().splitlines()[-1] == "0 False False", r.stderr
    assert json.loads(r.stdout)["sub"] == "alice"


@pytest.mark.parametrize("argv", [["batch"], ["batch", "qscloud"], ["batch", "qseow"]], ids=" ".join)
def test_help(run_cli, argv: list[str]) -> None:
    r = run_cli(*argv, "--help")
    assert r.exit_code == 0 and r.stderr == "" and "usage: qs-jwt batch" in r.stdout
    assert "example:" in r.stdout and "exit codes:" in r.stdout
    if argv == ["batch", "qseow"]:
        assert "default 1h for batch" in r.stdout
