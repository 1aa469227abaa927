"""The library shape for web backends and batch work: settings and user objects, factories for both
products, thread safety, worker processes, and warnings as data."""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
import threading
from typing import Any

import jwt
import pytest

import qs_jwt
from conftest import FIXED_NOW, key_bytes
from qs_jwt import (
    ArgumentTypeError,
    InvalidValueError,
    QsCloudSettings,
    QsCloudTokenFactory,
    QsCloudUser,
    QseowSettings,
    QseowTokenFactory,
    QseowUser,
)

PEM = key_bytes("rsa2048_pkcs8.pem")
PUBLIC = key_bytes("rsa2048_public.pem")


def _verify(token: str, audience: str) -> dict[str, Any]:
    return jwt.decode(token, PUBLIC, algorithms=["RS256"], audience=audience,
                      options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})


# --- settings and users ----------------------------------------------------------------------------


def test_objects_are_immutable_and_normalised() -> None:
    settings = QsCloudSettings(issuer="my-app", keyid="k1", expires="10m")
    user = QsCloudUser(email="a@example.com", email_verified="yes", groups=["Sales"], extra_claims={"tags": [1]})
    assert settings.lifetime == 600
    assert user.sub == user.name == "a@example.com"
    assert user.email_verified is True
    assert user.groups == ("Sales",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.sub = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        user.extra_claims["x"] = 1  # type: ignore[index]
    nested = user.extra_claims["tags"]
    nested.append(2)  # a copy: the user object is unchanged
    assert user.extra_claims["tags"] == [1]
    assert QsCloudUser(sub="s") == QsCloudUser(sub="s")
    assert hash(QsCloudSettings(issuer="i", keyid="k")) == hash(QsCloudSettings(issuer="i", keyid="k"))


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda: QsCloudSettings(issuer="", keyid="k"), "issuer"),
        (lambda: QsCloudSettings(issuer="i", keyid="k", expires="2h"), "expires"),
        (lambda: QsCloudSettings(issuer="i", keyid="k", algorithm="HS256"), "algorithm"),
        (lambda: QsCloudUser(email="a@b"), "email_verified"),
        (lambda: QsCloudUser(), "sub"),
        (lambda: QsCloudUser(sub="s", email_verified="maybe", email="a@b"), "email_verified"),
        (lambda: QsCloudUser(sub="s", groups=[""]), "groups"),
        (lambda: QsCloudUser(sub="s", extra_claims={"sub": "x"}), "extra_claims"),
        (lambda: QseowSettings(audience="a", expires="1h", userid_claim="sub"), "userid_claim"),
        (lambda: QseowSettings(audience="a", expires="1h", userid_claim="x", userdir_claim="x"), "userid_claim"),
        (lambda: QseowSettings(audience="", expires="1h"), "audience"),
        (lambda: QseowUser(user_id="", user_directory="d"), "user_id"),
        (lambda: QseowUser(user_id="u", user_directory="d", extra_claims={"exp": 1}), "extra_claims"),
    ],
)
def test_errors_name_the_python_parameter(make, param) -> None:
    with pytest.raises(InvalidValueError) as info:
        make()
    assert info.value.param == param
    assert str(info.value).startswith(f"{param}: ")
    assert "--" not in str(info.value)  # never a command-line flag


def test_messages_that_mention_other_parameters_render_with_any_names() -> None:
    with pytest.raises(InvalidValueError) as info:
        QsCloudUser(email="a@example.com")
    assert str(info.value) == ("email_verified: required with email (true when you have verified that the address "
                               "belongs to the user)")
    flags = {"email_verified": "--useremail-verified", "email": "--useremail"}
    assert info.value.render(flags.__getitem__).startswith("--useremail-verified: required with --useremail ")


@pytest.mark.parametrize("value", [None, 3, b"x", ["a"], object()])
def test_wrong_types_are_type_errors(value) -> None:
    with pytest.raises(TypeError):
        QsCloudSettings(issuer=value, keyid="k")
    with pytest.raises(ArgumentTypeError):
        QseowUser(user_id=value, user_directory="d")


def test_warnings_are_data() -> None:
    settings = QsCloudSettings(issuer="i", keyid="k", expires="2h", allow_long_lifetime=True, algorithm="RS512")
    user = QsCloudUser(sub="s", email_verified=True)
    assert len(settings.warnings) == 2 and len(user.warnings) == 1
    token = qs_jwt.create_qscloud_token(PEM, settings, user, now=FIXED_NOW)
    assert token.warnings == settings.warnings + user.warnings
    assert QsCloudTokenFactory(PEM, settings).create(user, now=FIXED_NOW).warnings == token.warnings


def test_extra_claims_of_settings_and_user_merge_and_may_not_clash() -> None:
    settings = QsCloudSettings(issuer="i", keyid="k", extra_claims={"tenant": "eu"})
    token = QsCloudTokenFactory(PEM, settings).create(sub="s", extra_claims={"team": "a"}, now=FIXED_NOW)
    assert token.payload["tenant"] == "eu" and token.payload["team"] == "a"
    with pytest.raises(InvalidValueError, match="both"):
        QsCloudTokenFactory(PEM, settings).create(sub="s", extra_claims={"tenant": "us"})
    qseow = QseowSettings(audience="a", expires="1h", groups_claim="roles")
    with pytest.raises(InvalidValueError, match="roles"):
        QseowTokenFactory(PEM, qseow).create(user_id="u", user_directory="d", extra_claims={"roles": ["x"]})


# --- the two call forms ----------------------------------------------------------------------------


def test_object_and_keyword_forms_make_the_same_token() -> None:
    settings = QsCloudSettings(issuer="i", keyid="k", expires="5m")
    user = QsCloudUser(sub="s", email="a@b", email_verified=True, groups=["g"], extra_claims={"x": 1})
    a = qs_jwt.create_qscloud_token(PEM, settings, user, now=FIXED_NOW)
    b = qs_jwt.create_qscloud_token(PEM, issuer="i", keyid="k", expires="5m", sub="s", email="a@b",
                                    email_verified=True, groups=["g"], extra_claims={"x": 1}, now=FIXED_NOW)
    del a.payload["jti"], b.payload["jti"]
    assert (a.header, a.payload) == (b.header, b.payload)
    c = qs_jwt.create_qseow_token(PEM, QseowSettings(audience="a", expires="1h"),
                                  QseowUser(user_id="u", user_directory="d"), now=FIXED_NOW)
    d = qs_jwt.create_qseow_token(PEM, user_id="u", user_directory="d", audience="a", expires="1h", now=FIXED_NOW)
    assert (c.header, c.payload) == (d.header, d.payload)


def test_mixing_or_unknown_keywords_is_a_type_error() -> None:
    settings = QsCloudSettings(issuer="i", keyid="k")
    with pytest.raises(TypeError, match="not both"):
        qs_jwt.create_qscloud_token(PEM, settings, QsCloudUser(sub="s"), sub="t")
    with pytest.raises(TypeError, match="not both"):
        qs_jwt.create_qscloud_token(PEM, settings, issuer="j", sub="s")
    with pytest.raises(TypeError, match="unexpected keyword argument 'subject'"):
        qs_jwt.create_qscloud_token(PEM, issuer="i", keyid="k", subject="s")
    with pytest.raises(TypeError, match="expected QsCloudSettings"):
        qs_jwt.create_qscloud_token(PEM, QseowSettings(audience="a", expires="1h"), QsCloudUser(sub="s"))
    with pytest.raises(TypeError, match="unexpected keyword argument 'sub'"):
        QsCloudTokenFactory(PEM, issuer="i", keyid="k", sub="s")
    with pytest.raises(TypeError):
        QseowTokenFactory(PEM, settings)  # type: ignore[arg-type]


# --- factories: threads and processes --------------------------------------------------------------


def test_factory_is_thread_safe() -> None:
    factory = QsCloudTokenFactory(PEM, QsCloudSettings(issuer="i", keyid="k"))
    tokens: list[tuple[int, int, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(20):
            token = factory.create(QsCloudUser(sub=f"user-{worker}-{i}"), now=FIXED_NOW).token
            with lock:
                tokens.append((worker, i, token))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 320
    jtis = set()
    for worker, i, token in tokens:
        payload = _verify(token, qs_jwt.QSCLOUD_AUDIENCE)
        assert payload["sub"] == f"user-{worker}-{i}"
        jtis.add(payload["jti"])
    assert len(jtis) == 320


def _mint_in_worker(factory: QsCloudTokenFactory, sub: str) -> str:
    return factory.create(sub=sub, now=FIXED_NOW).token


def test_factory_pickles_and_works_in_a_worker_process() -> None:
    factory = QsCloudTokenFactory(PEM, QsCloudSettings(issuer="i", keyid="k"))
    clone = pickle.loads(pickle.dumps(factory))  # noqa: S301 - our own object
    assert clone.settings == factory.settings
    assert _verify(clone.create(sub="s").token, qs_jwt.QSCLOUD_AUDIENCE)["sub"] == "s"
    context = multiprocessing.get_context("spawn")  # what Windows and macOS use: nothing inherited
    with context.Pool(1) as pool:
        token = pool.apply(_mint_in_worker, (factory, "worker-user"))
    assert _verify(token, qs_jwt.QSCLOUD_AUDIENCE)["sub"] == "worker-user"


def test_qseow_factory() -> None:
    factory = QseowTokenFactory(PEM, QseowSettings(audience="qlik", expires="1h", groups_claim="group"))
    token = factory.create(QseowUser(user_id="alice", user_directory="ACME", groups=["Sales"]), now=FIXED_NOW)
    payload = _verify(token.token, "qlik")
    assert payload == {"userId": "alice", "userDirectory": "ACME", "group": ["Sales"], "iat": FIXED_NOW,
                       "exp": FIXED_NOW + 3600, "aud": "qlik"}
    assert pickle.loads(pickle.dumps(factory))  # noqa: S301 - our own object.create(user_id="b", user_directory="D").payload["userId"] == "b"


def test_factory_checks_the_key_once_and_refuses_a_damaged_one() -> None:
    factory = QsCloudTokenFactory(PEM, issuer="i", keyid="k")
    assert factory.signer.validated is True  # the full RSA check ran once, so signatures are not re-verified
    assert qs_jwt.Signer(PEM).validated is False  # a one-off signer verifies each signature instead
    with pytest.raises(qs_jwt.KeyLoadError):
        QsCloudTokenFactory(b"garbage", issuer="i", keyid="k")
