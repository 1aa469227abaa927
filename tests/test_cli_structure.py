"""The command line is a thin layer: the library's public API only, no import cycle, one table of
parameters and flags, one enum of exit codes."""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

import pytest

import qs_jwt
from qs_jwt.cli import EXIT_CODES_HELP, ExitCode, build_parser
from qs_jwt.cli._common import COMMAND_PARAM_FLAGS, PARAM_FLAGS

CLI = Path(qs_jwt.__file__).parent / "cli"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(level, module, names) of every ``from ... import`` in a module, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.level, node.module or "", [alias.name for alias in node.names])
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_the_cli_uses_the_public_library_api_only(path: Path) -> None:
    for level, module, names in _imports(path):
        if level != 2:
            continue  # the standard library, or the cli package itself
        if not module:
            assert set(names) <= set(qs_jwt.__all__), names
            continue
        assert not module.startswith("_"), f"{path.name} imports the private module qs_jwt.{module}"
        public = importlib.import_module(f"qs_jwt.{module}").__all__
        private = [name for name in names if name not in public]
        assert not private, f"{path.name} imports {private} from qs_jwt.{module}, which are not in its __all__"


def test_no_import_cycle_inside_the_cli() -> None:
    graph: dict[str, set[str]] = {}
    for path in CLI.glob("*.py"):
        name = path.stem
        edges = set()
        for level, module, names in _imports(path):
            if level == 1:
                edges |= {module} if module else set(names)
        graph[name] = edges - {name}
    graph["__init__"] = graph.get("__init__", set())

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, " -> ".join((*trail, node))
        for nxt in graph.get(node, ()):
            visit(nxt, (*trail, node))

    for start in graph:
        visit(start, ())


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        found |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


def test_every_parameter_maps_to_a_real_option() -> None:
    options = _options(build_parser())
    for table in (PARAM_FLAGS, *COMMAND_PARAM_FLAGS.values()):
        for param, flag in table.items():
            assert flag in options or not flag.startswith("--"), (param, flag)


def test_exit_codes_come_from_one_enum() -> None:
    assert [code.value for code in ExitCode] == [0, 1, 2, 3, 4, 130]
    for code in ExitCode:
        assert f"  {code.value:<2} " in EXIT_CODES_HELP
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for line in EXIT_CODES_HELP.splitlines()[1:]:
        value, meaning = line.split(None, 1)
        assert f"| {value} | {meaning} |" in readme, line
