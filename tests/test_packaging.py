"""Packaging: the project metadata, the sdist's contents, the sdist's own tests, and the shared-folder rule.

The sdist must hold the tests and what they need, and they must pass from the unpacked sdist in a fresh
virtual environment: that check (``slow``) installs packages from the package index and runs the whole suite,
so it runs only with ``--run-slow``, as ``.ci/run`` does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import venv
from email.parser import Parser
from pathlib import Path

import pytest

from conftest import ROOT, SHARED

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
PROJECT_URL = "https://github.com/qs-jwt/qs-jwt-python"
TESTS = Path(__file__).resolve().parent
MIN_VERSIONS = ROOT / ".ci" / "min-versions.txt"


# --- metadata -----------------------------------------------------------------------------------------


def test_classifiers_are_known_and_complete() -> None:
    from trove_classifiers import classifiers as known

    classifiers = PROJECT["classifiers"]
    assert not [c for c in classifiers if c not in known], "unknown trove classifiers"
    assert len(set(classifiers)) == len(classifiers)
    for required in (
        "Development Status :: 4 - Beta",
        "Environment :: Console",
        "Operating System :: OS Independent",
        "Operating System :: Microsoft :: Windows",
        "Operating System :: POSIX :: Linux",
        "Operating System :: MacOS",
        "Topic :: Security",
        "Topic :: System :: Systems Administration :: Authentication/Directory",
        "Typing :: Typed",
    ):
        assert required in classifiers


def test_python_classifiers_match_requires_python() -> None:
    listed = sorted(int(m.group(1)) for c in PROJECT["classifiers"]
                    if (m := re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c)))
    lowest = int(re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"]).group(1))  # type: ignore[union-attr]
    assert listed == list(range(lowest, 15)), "every minor version from requires-python up to 3.14"


def test_project_urls() -> None:
    urls = PROJECT["urls"]
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert urls["Homepage"] == PROJECT_URL
    assert urls["Documentation"] == f"{PROJECT_URL}#readme"
    assert urls["Changelog"] == f"{PROJECT_URL}/blob/main/CHANGELOG.md"
    assert urls["Issues"] == f"{PROJECT_URL}/issues"


def _lower_bounds() -> dict[str, str]:
    """``name: version`` of every ``name>=version`` among the dependencies and the test extra."""
    bounds = {}
    for requirement in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", requirement.split(";")[0].strip())
        assert match, f"{requirement!r}: give a lower bound, and .ci/min-versions.txt pins it"
        bounds[match.group(1).lower()] = match.group(2)
    return bounds


def _release(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def test_min_versions_pin_the_lower_bounds() -> None:
    if not MIN_VERSIONS.is_file():
        pytest.skip(f"{MIN_VERSIONS} is not here (an sdist holds no CI files)")
    pins = {}
    for line in MIN_VERSIONS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    bounds = _lower_bounds()
    assert set(pins) == set(bounds)
    for name, bound in bounds.items():
        assert _release(pins[name]) == _release(bound), f"{name}: pyproject says >={bound}, pinned {pins[name]}"


# --- the sdist ----------------------------------------------------------------------------------------


def _build_sdist(out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = out.glob("qs_jwt-*.tar.gz")
    return sdist


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_sdist(tmp_path_factory.mktemp("dist"))


def _source_files(folder: Path) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix() for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_sdist_holds_the_tests_and_what_they_need(sdist: Path) -> None:
    import qs_jwt

    prefix = f"qs_jwt-{qs_jwt.__version__}/"
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        pkg_info = archive.extractfile(prefix + "PKG-INFO").read().decode("utf-8")  # type: ignore[union-attr]
    files = {name.removeprefix(prefix) for name in names if name.startswith(prefix)}
    assert len(files) == len(names), "every file is under one folder named after the release"

    required = {
        "pyproject.toml", "PKG-INFO", "README.md", "CHANGELOG.md", "LICENSE",
        "src/qs_jwt/__init__.py", "src/qs_jwt/py.typed", "src/qs_jwt/cli/__init__.py",
        "tests/conftest.py", "tests/typing/library_usage.py", "tests/keys/README.md",
    }
    required |= _source_files(TESTS)  # every test, key and typing file of this tree
    required |= _source_files(ROOT / "src" / "qs_jwt")
    assert not required - files, "missing from the sdist"
    assert {f for f in files if f.startswith("tests/keys/")} >= {"tests/keys/rsa2048_pkcs8.pem",
                                                                  "tests/keys/rsa2048_cert_expired.pem"}

    unwanted = re.compile(r"(^|/)(\.venv|\.git|__pycache__|\.pytest_cache|\.hypothesis|\.mypy_cache|"
                          r"\.ruff_cache|dist|build)(/|$)|\.pyc$|\.egg-info(/|$)")
    assert not [f for f in files if unwanted.search(f)]
    # the key files the README's first command writes into the checkout never ship
    assert not {"privatekey.pem", "publickey.pem", "publickey.cer"} & files
    assert not [f for f in files if f.startswith("keys/")]

    metadata = Parser().parsestr(pkg_info)
    assert set(metadata.get_all("Classifier") or []) == set(PROJECT["classifiers"])
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert {label.lower(): url for label, url in urls.items()} == {
        label.lower(): url for label, url in PROJECT["urls"].items()
    }


@pytest.mark.slow
def test_sdist_tests_pass_in_a_fresh_venv(sdist: Path, tmp_path: Path) -> None:
    """Install the unpacked sdist, with its test extra, into a new venv and run its tests there.

    ``$CI_SDIST_CONSTRAINTS`` names a pip constraints file to install with (CI: the lowest versions pyproject.toml
    allows, each pin checked against what got installed), and ``$CI_SDIST_PYTEST_ARGS`` adds pytest arguments.
    """
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            archive.extractall(tmp_path / "src", filter="data")
        else:  # pragma: no cover - our own archive, just built
            archive.extractall(tmp_path / "src")  # noqa: S202
    (unpacked,) = (tmp_path / "src").iterdir()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("QS_JWT_", "PYTHON", "VIRTUAL_ENV"))}
    constraints = os.environ.get("CI_SDIST_CONSTRAINTS")
    pins = ["-c", constraints] if constraints else []
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins, f"{unpacked}[test]"],
                             env=env, capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    if constraints:  # every pin must be what got installed: a pin that matches no requirement tests nothing
        check = ("import sys\nfrom importlib.metadata import version\nwrong = []\n"
                 "for line in open(sys.argv[1], encoding='utf-8'):\n"
                 "    line = line.split('#', 1)[0].strip()\n"
                 "    if line:\n"
                 "        name, _, pinned = line.partition('==')\n"
                 "        if version(name) != pinned:\n"
                 "            wrong.append(f'{name}: {version(name)} installed, {pinned} pinned')\n"
                 "sys.exit('\\n'.join(wrong) or None)\n")
        pinned = subprocess.run([str(python), "-c", check, constraints], env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    env["QS_JWT_SHARED_DIR"] = str(SHARED.resolve())  # the unpacked sdist has no ../shared beside it
    extra = os.environ.get("CI_SDIST_PYTEST_ARGS", "").split()
    tests = subprocess.run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *extra], cwd=unpacked,
                           env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
                           check=False)
    output = tests.stdout + tests.stderr
    assert tests.returncode == 0, output[-20000:]
    assert re.search(r"^\d+ passed", output.splitlines()[-1]), output[-2000:]


# --- conftest's rules, run on a generated test file: shared data, and slow tests ------------------------

GENERATED_TESTS = '''
import pytest

from conftest import SHARED, require_shared


def test_takes_the_shared_folder(shared_dir):
    pass


def test_takes_the_wycheproof_vectors(wycheproof_dir):
    pass


def test_calls_require_shared() -> None:
    require_shared(SHARED / "vectors" / "some.json", "a vector file")


@pytest.mark.slow
def test_marked_slow() -> None:
    pass


def test_slow_in_its_name_only() -> None:
    pass
'''


@pytest.mark.parametrize(("ci", "run_slow"), [(None, False), ("false", False), ("true", True)])
def test_missing_shared_folder_skips_unless_ci(tmp_path: Path, ci: str | None, run_slow: bool) -> None:
    """With QS_JWT_SHARED_DIR naming a missing folder: skipped with the reason, or failed under CI=true."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = slow: slow\n", encoding="utf-8")  # not ours
    (tmp_path / "test_generated.py").write_text(GENERATED_TESTS, encoding="utf-8")
    missing = tmp_path / "no-shared-here"
    env = {name: value for name, value in os.environ.items() if name not in ("CI", "PYTHONPATH")}
    env["PYTHONPATH"] = str(TESTS)  # for -p conftest: this project's conftest.py as a plugin
    env["QS_JWT_SHARED_DIR"] = str(missing)
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
               "-p", "no:hypothesispytest", "-q", "-rsE", "test_generated.py"]
    done = subprocess.run([*command, *(["--run-slow"] if run_slow else [])], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    summary = output.strip().splitlines()[-1]
    if ci == "true":  # the fixtures' tests error at setup, the helper's test fails
        assert done.returncode == 1, output
        assert re.fullmatch(r"=* ?1 failed, 2 passed, 2 errors in .*", summary), output
        assert output.count("CI=true, so missing shared test data is an error, not a skip") >= 3, output
    else:
        assert done.returncode == 0, output
        assert re.fullmatch(r"=* ?1 passed, 4 skipped in .*", summary), output
        assert "CI=true" not in output
        assert "slow: run with --run-slow (.ci/run does)" in output
    assert f"the shared folder not found at {missing}" in output
    assert f"Wycheproof vectors not found at {missing / 'vectors' / 'wycheproof'}" in output
    assert f"a vector file not found at {missing / 'vectors' / 'some.json'}" in output
