"""The README, --help and CI say the same things."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from qs_jwt.cli import ENVIRONMENT_HELP, EXIT_CODES_HELP, build_parser

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def test_readme_starts_with_install_and_test_commands():
    first, second = _code_blocks(README)[:2]
    assert "pip install ." in first and "qs-jwt create-qscloud" in first
    assert "pip install -e '.[test]'" in second and "python -m pytest -q" in second


def test_ci_runs_the_readme_test_command():
    test_command = _code_blocks(README)[1].strip().split("&&")[-1].strip()  # .venv/bin/python -m pytest -q
    assert test_command in CI


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
