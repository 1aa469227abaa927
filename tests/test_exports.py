"""The public API of ``qs_jwt``: lazy exports, dir(), and a cheap ``import qs_jwt``."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import textwrap

import pytest

import qs_jwt


def test_all_names_resolve() -> None:
    assert "__version__" in qs_jwt.__all__
    assert len(qs_jwt.__all__) == len(set(qs_jwt.__all__))
    for name in qs_jwt.__all__:
        value = getattr(qs_jwt, name)
        assert value is not None, name


@pytest.mark.parametrize("name", [n for n in qs_jwt.__all__ if n != "__version__"])
def test_each_export_comes_from_its_module(name: str) -> None:
    module = importlib.import_module(f"qs_jwt.{qs_jwt._EXPORTS[name]}")
    assert getattr(qs_jwt, name) is getattr(module, name)
    if hasattr(module, "__all__"):  # errors.py has none: everything in it is public
        assert name in module.__all__


def test_lazy_value_is_cached_in_module_globals() -> None:
    value = qs_jwt.create_qscloud_token
    assert vars(qs_jwt)["create_qscloud_token"] is value


def test_dir_lists_every_export() -> None:
    listed = dir(qs_jwt)
    assert set(qs_jwt.__all__) <= set(listed)
    assert listed == sorted(listed)


def test_star_import_gives_every_export() -> None:
    namespace: dict[str, object] = {}
    exec("from qs_jwt import *", namespace)  # noqa: S102 - the star import is what is under test
    assert set(qs_jwt.__all__) <= set(namespace)


@pytest.mark.parametrize("name", ["does_not_exist", "tokens_", "_EXPORTS_", "Create_qscloud_token"])
def test_unknown_attribute_raises_attribute_error(name: str) -> None:
    with pytest.raises(AttributeError, match=name):
        getattr(qs_jwt, name)
    assert not hasattr(qs_jwt, name)


def test_from_import_of_unknown_name_fails() -> None:
    with pytest.raises(ImportError):
        exec("from qs_jwt import not_a_name", {})  # noqa: S102


def test_version_is_text() -> None:
    assert isinstance(qs_jwt.__version__, str)
    assert qs_jwt.__version__[0].isdigit()


def test_errors_hierarchy() -> None:
    for name in ("InvalidValueError", "KeyLoadError", "OutputExistsError", "FileWriteError", "TokenFormatError",
                 "VerificationError", "QlikApiError"):
        assert issubclass(getattr(qs_jwt, name), qs_jwt.QsJwtError)
    assert issubclass(qs_jwt.InvalidValueError, ValueError)
    assert issubclass(qs_jwt.ArgumentTypeError, TypeError)
    assert issubclass(qs_jwt.ArgumentTypeError, qs_jwt.InvalidValueError)
    assert qs_jwt.QSCLOUD_AUDIENCE == "qlik.api/login/jwt-session"
    assert qs_jwt.QSCLOUD_MAX_LIFETIME == 3600


def test_public_functions_are_documented() -> None:
    for name in qs_jwt.__all__:
        value = getattr(qs_jwt, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_does_not_load_cryptography_or_jwt() -> None:
    out = _run("import qs_jwt, sys; print('cryptography' in sys.modules, 'jwt' in sys.modules)")
    assert out == "False False"


def test_error_classes_and_durations_do_not_load_cryptography() -> None:
    out = _run(
        """
        import sys
        import qs_jwt
        qs_jwt.QsJwtError, qs_jwt.InvalidValueError, qs_jwt.parse_duration("5m")
        print('cryptography' in sys.modules, 'jwt' in sys.modules)
        """
    )
    assert out == "False False"


def test_minting_does_not_import_pyjwt() -> None:
    from conftest import key_path

    out = _run(
        f"""
        import sys
        import qs_jwt
        key = open({key_path("rsa2048_pkcs8.pem")!r}, "rb").read()
        qs_jwt.create_qscloud_token(key, issuer="i", keyid="k", sub="s", now=1_800_000_000)
        print('jwt' in sys.modules)
        """
    )
    assert out == "False"
