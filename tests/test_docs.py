"""The README, --help and CI say the same things, and the README's shell examples run.

Every ```sh, ```bash and ```console block of README.md runs, in page order, in one fresh temporary folder (a
block may use the files an earlier one made), each in a new ``bash -euo pipefail`` with ``qs-jwt`` and
``python``/``python3`` of this test environment first on the PATH and no ``QS_JWT_*`` variable set. A
```console block runs its ``$ `` lines (with their ``\\`` continuation lines) and ignores the rest, which is
output. A block must exit 0 unless the line right before its fence is a marker:

- ``<!-- docs-test: skip (REASON) -->``: not run (it needs the network, a checkout, another system, ...).
- ``<!-- docs-test: exit N -->``: every command but the last exits 0, and the last exits N (a failing check).
- ``<!-- docs-test: qlik-cloud -->`` (or ``qlik-cloud; exit N``): run against a fresh emulated Qlik Cloud
  tenant (HTTPS on 127.0.0.1): ``$TENANT`` is its address, ``$QLIK_API_KEY`` a tenant admin's API key, and
  ``$SSL_CERT_FILE`` the test CA (the default trust reads it, as on a machine behind a TLS-inspecting proxy).

Any other ``docs-test:`` comment, or one that is not right before a shell block, is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT
from qs_jwt.cli import ENVIRONMENT_HELP, EXIT_CODES_HELP, build_parser

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_SCRIPT = ROOT / ".ci" / "run"

SHELL_LANGUAGES = ("sh", "bash", "console")
MARKER = re.compile(r"^<!--\s*docs-test:(.*?)-->\s*$")
SKIP = re.compile(r"^skip \((?P<reason>[^()]*\S[^()]*)\)$")
EXIT = re.compile(r"^exit (?P<code>[1-9][0-9]{0,2})$")
QLIK_CLOUD = "qlik-cloud"
README_API_KEY = "readme-admin-api-key"
#: printed to stderr between the last command of an ``exit N`` block and the ones before it
REACHED_LAST = "docs-test: the commands before the last one succeeded"
BLOCK_TIMEOUT = 120


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def test_readme_starts_with_install_and_test_commands():
    first, second = _code_blocks(README)[:2]
    assert "pip install ." in first and "qs-jwt create-qscloud" in first
    assert "pip install -e '.[test]'" in second and "python -m pytest -q" in second


def test_ci_runs_the_readme_test_command():
    if not CI_SCRIPT.is_file():
        pytest.skip(f"{CI_SCRIPT} is not here (an sdist holds no CI script)")
    test_command = _code_blocks(README)[1].strip().split("&&")[-1].strip()  # .venv/bin/python -m pytest -q
    assert test_command in CI_SCRIPT.read_text(encoding="utf-8")


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    names = []
    for name, command_parser in sub.choices.items():  # type: ignore[attr-defined]
        nested = [a for a in command_parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        names += [f"{name} {n}" for n in nested[0].choices] if nested else [name]
    return names


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented_with_an_example(command):
    assert f"### {command}" in README
    section = README.split(f"### {command}", 1)[1].split("\n### ", 1)[0]
    assert f"qs-jwt {command}" in section


def test_exit_codes_table_matches_help():
    for line in EXIT_CODES_HELP.splitlines()[1:]:
        code = line.split()[0]
        assert re.search(rf"^\| {code} \| ", README, flags=re.M), code


def test_environment_variables_documented():
    for line in ENVIRONMENT_HELP.splitlines()[1:]:
        assert f"`{line.split()[0]}`" in README


def test_changelog_has_this_version():
    import qs_jwt

    assert f"## [{qs_jwt.__version__}]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


# --- the README's shell blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    skip: str | None  # the reason of a skip marker
    exit_code: int  # what the last command must exit with
    qlik_cloud: bool = False  # runs against the emulated tenant

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.language}"

    def commands(self) -> list[str]:
        """The commands to run: a console block's ``$`` lines, or the whole of a sh/bash block as one."""
        if self.language != "console":
            return [self.text]
        commands: list[str] = []
        continued = False
        for line in self.text.splitlines():
            if continued:
                commands[-1] += "\n" + line
            elif line.startswith("$ "):
                commands.append(line[2:])
            else:
                continue  # output
            continued = line.endswith("\\")
        return commands

    def shown_output(self) -> list[str]:
        """The output lines a console block shows that are the tool's own words, exact on every run: its
        messages (``qs-jwt: ...``) and check findings (``ERROR:``, ``WARNING:``, ``  fix:``, ``OK:``)."""
        if self.language != "console":
            return []
        prefixes = ("qs-jwt: ", "ERROR: ", "WARNING: ", "  fix: ", "OK: ")
        lines, continued = [], False
        for line in self.text.splitlines():
            if line.startswith("$ ") or continued:
                continued = line.endswith("\\")
                continue
            if line.startswith(prefixes) and "..." not in line:
                lines.append(line)
        return lines

    def script(self) -> str:
        *before, last = self.commands()
        if self.exit_code == 0:
            return "\n".join([*before, last]) + "\n"
        return "\n".join([*before, f"printf '%s\\n' '{REACHED_LAST}' >&2", last]) + "\n"


class MarkerError(ValueError):
    pass


def parse_shell_blocks(text: str) -> list[Block]:
    """The shell blocks of a Markdown page, in order, with their markers; :class:`MarkerError` on a bad page."""
    lines = text.splitlines()
    blocks: list[Block] = []
    fence: tuple[int, str] | None = None  # (index of the opening line, language)
    body: list[str] = []
    for index, line in enumerate(lines):
        if fence is not None:
            if line.strip() == "```":
                start, language = fence
                if language in SHELL_LANGUAGES:
                    blocks.append(_block(lines, start, language, "\n".join(body) + "\n"))
                elif any(row.startswith("$ ") for row in body):
                    raise MarkerError(f"line {start + 1}: a block with '$ ' prompts must be tagged ```console")
                fence, body = None, []
            else:
                body.append(line)
            continue
        if line.startswith("```"):
            fence, body = (index, line[3:].strip()), []
            continue
        if _is_marker(line):
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if not (following.startswith("```") and following[3:].strip() in SHELL_LANGUAGES):
                raise MarkerError(f"line {index + 1}: a docs-test marker must be right before a shell block")
    if fence is not None:
        raise MarkerError(f"line {fence[0] + 1}: unclosed code block")
    return blocks


def _is_marker(line: str) -> bool:
    """An HTML comment that mentions docs-test (prose that quotes a marker in backticks is not one)."""
    return line.lstrip().startswith("<!--") and "docs-test" in line


def _block(lines: list[str], start: int, language: str, text: str) -> Block:
    skip, exit_code, qlik_cloud = None, 0, False
    previous = lines[start - 1] if start > 0 else ""
    if _is_marker(previous):
        match = MARKER.match(previous.strip())
        value = match.group(1).strip() if match else ""
        if value == QLIK_CLOUD or value.startswith(f"{QLIK_CLOUD};"):  # "qlik-cloud" or "qlik-cloud; exit N"
            qlik_cloud, value = True, value.removeprefix(QLIK_CLOUD).lstrip(";").strip()
        if skip_match := SKIP.match(value):
            skip = skip_match.group("reason").strip()
        elif exit_match := EXIT.match(value):
            exit_code = int(exit_match.group("code"))
        elif qlik_cloud and not value:
            pass
        else:
            raise MarkerError(f"line {start}: unknown docs-test marker {previous.strip()!r}; use "
                              "'<!-- docs-test: skip (REASON) -->', '<!-- docs-test: exit N -->' or "
                              f"'<!-- docs-test: {QLIK_CLOUD} -->' (or '{QLIK_CLOUD}; exit N')")
    block = Block(start + 1, language, text, skip, exit_code, qlik_cloud)
    if skip is None and not any(command.strip() for command in block.commands()):
        raise MarkerError(f"line {start + 1}: a ```{language} block without a command")
    return block


BLOCKS = parse_shell_blocks(README)


def test_parser_reads_markers_and_prompts() -> None:
    page = "\n".join([
        "<!-- docs-test: skip (needs the network) -->",
        "```sh", "pip install qs-jwt", "```",
        "<!-- docs-test: exit 3 -->",
        "```console", "$ true", "$ qs-jwt check \\", "  --strict", "OUTPUT", "$ false; echo $?", "3", "```",
        "```json", '{"$ not": "a prompt"}', "```",
        "Prose may quote a marker: `<!-- docs-test: exit 3 -->`.",
        "```sh", "echo hi", "```",
    ])
    skipped, failing, plain = parse_shell_blocks(page)
    assert (skipped.skip, skipped.exit_code, skipped.line) == ("needs the network", 0, 2)
    assert failing.skip is None and failing.exit_code == 3
    assert failing.commands() == ["true", "qs-jwt check \\\n  --strict", "false; echo $?"]
    assert failing.script().splitlines()[-2:] == [f"printf '%s\\n' '{REACHED_LAST}' >&2", "false; echo $?"]
    assert (plain.skip, plain.exit_code, plain.commands()) == (None, 0, ["echo hi\n"])


def test_parser_reads_the_qlik_cloud_marker() -> None:
    (block,) = parse_shell_blocks(f"<!-- docs-test: {QLIK_CLOUD} -->\n```sh\nqs-jwt qscloud idp list\n```\n")
    assert block.qlik_cloud and block.skip is None and block.exit_code == 0
    (block,) = parse_shell_blocks(f"<!-- docs-test: {QLIK_CLOUD}; exit 4 -->\n```sh\nqs-jwt qscloud login\n```\n")
    assert block.qlik_cloud and block.exit_code == 4


@pytest.mark.parametrize("page", [
    "<!-- docs-test: skip -->\n```sh\nx\n```\n",  # no reason
    "<!-- docs-test: skip() -->\n```sh\nx\n```\n",
    "<!-- docs-test: exit 0 -->\n```sh\nx\n```\n",  # 0 is the default, not a marker
    "<!-- docs-test: exit three -->\n```sh\nx\n```\n",
    "<!-- docs-test: ignore -->\n```sh\nx\n```\n",
    "<!-- docs-test skip (no colon) -->\n```sh\nx\n```\n",
    "<!-- docs-test: skip (x) -->\n\n```sh\nx\n```\n",  # not on the line right before the fence
    "<!-- docs-test: skip (x) -->\n```json\n{}\n```\n",  # not a shell block
    "```\n$ qs-jwt --help\n```\n",  # a prompt in an untagged block would never run
    "```console\nno prompt here\n```\n",
    "```sh\necho unclosed\n",
])
def test_parser_refuses_bad_markup(page: str) -> None:
    with pytest.raises(MarkerError):
        parse_shell_blocks(page)


def test_readme_has_runnable_shell_blocks() -> None:
    runnable = [block for block in BLOCKS if block.skip is None]
    assert len(runnable) >= 10, [block.id for block in BLOCKS]
    assert BLOCKS[0].skip and BLOCKS[1].skip  # the install and test commands: network, and this suite itself


@dataclass(frozen=True)
class BlockRun:
    exit_code: int
    output: str
    reached_last: bool


def _environment(bin_dir: Path) -> dict[str, str]:
    scripts = Path(sysconfig.get_path("scripts"))
    path = os.pathsep.join([str(bin_dir), str(scripts), str(Path(sys.executable).parent),
                            os.environ.get("PATH", os.defpath)])
    qs_jwt = shutil.which("qs-jwt", path=path)
    if qs_jwt is None:
        pytest.fail(f"qs-jwt is not installed in this environment ({scripts})", pytrace=False)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("QS_JWT_") and name not in ("QLIK_API_KEY", "QLIK_OAUTH_CLIENT_SECRET", "TENANT")}
    env["PATH"] = path
    return env


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def readme_tenant(qlik_emulator_servers):  # type: ignore[no-untyped-def]
    """The emulated Qlik Cloud tenant of the ``qlik-cloud`` blocks: no identity provider yet, one admin API key."""
    from qlik_emulator import QscloudEmulator

    server = qlik_emulator_servers.get("https")
    server.reset()
    emulator = QscloudEmulator(server=server)
    emulator.add_api_key("readme-admin", README_API_KEY, tenant_admin=True)
    yield emulator
    emulator.close()
    errors = server.errors
    server.reset()
    assert not errors, errors


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory: pytest.TempPathFactory, readme_folder: Path,
                readme_tenant) -> dict[int, BlockRun]:  # type: ignore[no-untyped-def]
    """Run every unskipped shell block of the README, in page order, in one folder."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name in ("python", "python3"):  # a script, not a symlink: a venv's python finds its venv by its path
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    env = _environment(bin_dir)
    folder = readme_folder
    runs: dict[int, BlockRun] = {}
    for block in BLOCKS:
        if block.skip is not None:
            continue
        block_env = env if not block.qlik_cloud else {
            **env, "TENANT": readme_tenant.url, "QLIK_API_KEY": README_API_KEY,
            "SSL_CERT_FILE": str(readme_tenant.ca_cert_path)}
        try:
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.script()], cwd=folder, env=block_env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=BLOCK_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            runs[block.line] = BlockRun(-1, f"timed out after {exc.timeout} s", False)
            continue
        runs[block.line] = BlockRun(done.returncode, done.stdout + done.stderr, REACHED_LAST in done.stderr)
    return runs


_VARYING = (
    (re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\dZ| \d\d:\d\d)?"), "<time>"),  # dates and times
    (re.compile(r"\b[A-Za-z0-9_-]{43}\b"), "<thumbprint>"),  # RFC 7638 thumbprints, jti values
    (re.compile(r"\b[0-9A-F]{2}(:[0-9A-F]{2}){15,}\b"), "<fingerprint>"),
)


def _normalised(line: str) -> str:
    """A line with what differs from run to run (times, key thumbprints) replaced by placeholders."""
    for pattern, placeholder in _VARYING:
        line = pattern.sub(placeholder, line)
    return line.rstrip()


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_shell_block_runs(block: Block, readme_runs: dict[int, BlockRun]) -> None:
    if block.skip is not None:
        pytest.skip(f"README.md line {block.line}: {block.skip}")
    run = readme_runs[block.line]
    where = f"README.md line {block.line} ({block.language} block):\n{block.text}\n--- output ---\n{run.output}"
    printed = [_normalised(line) for line in run.output.splitlines()]
    for line in block.shown_output():
        assert _normalised(line) in printed, f"the page shows a line the tool does not print: {line!r}\n{where}"
    if block.exit_code == 0:
        assert run.exit_code == 0, f"exit {run.exit_code}, expected 0\n{where}"
    else:
        assert run.reached_last, f"a command before the last one failed (exit {run.exit_code})\n{where}"
        assert run.exit_code == block.exit_code, f"exit {run.exit_code}, expected {block.exit_code}\n{where}"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_blocks_run(readme_runs: dict[int, BlockRun], readme_folder: Path) -> None:
    """The library examples run, in page order, as one program, in the folder the shell blocks filled."""
    blocks = _python_blocks(README)
    assert len(blocks) >= 5
    script = readme_folder / "readme_examples.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("QS_JWT_") and name not in ("QLIK_API_KEY", "QLIK_OAUTH_CLIENT_SECRET", "TENANT")}
    done = subprocess.run([sys.executable, str(script)], cwd=readme_folder, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "expires\n" in done.stdout  # the exceptions example printed the parameter
