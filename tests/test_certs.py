"""create_key_files, the certificate it makes, write_atomic and describe_key_material."""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

import qs_jwt
import qs_jwt._files
import qs_jwt.certs
from conftest import FIXED_NOW, PASSPHRASE, key_bytes
from qs_jwt._files import check_outputs, write_atomic
from qs_jwt.certs import key_file_paths, validate_common_name, validate_days
from qs_jwt.errors import ArgumentTypeError, FileWriteError, InvalidValueError, KeyLoadError, OutputExistsError

NAMES = ("privatekey.pem", "publickey.pem", "publickey.cer")


def mode_of(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".qs-jwt-") and p.name.endswith(".tmp")]


@pytest.fixture
def no_keygen(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        pytest.fail("a key was generated although the call should have stopped before")

    monkeypatch.setattr(qs_jwt.certs, "generate_rsa_key", fail)


@pytest.fixture
def fast_keygen(monkeypatch: pytest.MonkeyPatch, private_key: Any) -> list[int]:
    """Replace key generation by the checked-in 2048-bit key; records the sizes asked for."""
    asked: list[int] = []

    def generate(bits: int = 4096) -> Any:
        asked.append(bits)
        return private_key

    monkeypatch.setattr(qs_jwt.certs, "generate_rsa_key", generate)
    return asked


# --- create_key_files: the three files -------------------------------------------------------


def test_create_key_files(tmp_path: Path) -> None:
    prefix = str(tmp_path) + "/"
    result = qs_jwt.create_key_files(prefix, days=365, key_size=2048, now=FIXED_NOW)
    assert listing(tmp_path) == sorted(NAMES)
    assert result.private_key_path == prefix + "privatekey.pem"
    assert result.public_key_path == prefix + "publickey.pem"
    assert result.certificate_path == prefix + "publickey.cer"
    assert result.encrypted is False

    private_pem = Path(result.private_key_path).read_bytes()
    public_pem = Path(result.public_key_path).read_bytes()
    cert_pem = Path(result.certificate_path).read_bytes()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")  # SPKI
    assert cert_pem.startswith(b"-----BEGIN CERTIFICATE-----\n")

    private = qs_jwt.validate_private_key(private_pem)
    assert private.key_size == 2048
    assert private.public_key().public_numbers().e == 65537
    public = serialization.load_pem_public_key(public_pem)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert public.public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]
    assert cert.public_key().public_numbers() == private.public_key().public_numbers()  # type: ignore[union-attr]
    assert result.certificate == cert

    assert mode_of(result.private_key_path) == 0o600
    assert mode_of(result.public_key_path) == 0o644
    assert mode_of(result.certificate_path) == 0o644
    assert no_temp_files(tmp_path)

    # a token signed with the new key verifies with the new certificate
    token = qs_jwt.create_qscloud_token(private_pem, issuer="i", keyid="k", sub="s", now=FIXED_NOW)
    assert qs_jwt.verify(token.token, cert_pem, now=FIXED_NOW).ok


def test_certificate_contents(tmp_path: Path) -> None:
    result = qs_jwt.create_key_files(str(tmp_path / "a-"), days=30, key_size=2048, now=FIXED_NOW)
    cert = result.certificate
    assert cert.version == x509.Version.v3
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in cn] == ["qs-jwt"]
    assert cert.issuer == cert.subject
    constraints = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical is True
    assert constraints.value.ca is False
    usage = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    assert usage.value.digital_signature is True
    assert usage.value.key_cert_sign is False
    assert 0 < cert.serial_number < 2**159
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=30)
    start = dt.datetime.fromtimestamp(FIXED_NOW, tz=dt.UTC) - dt.timedelta(minutes=5)
    assert cert.not_valid_before_utc == start
    assert result.not_before == cert.not_valid_before_utc
    assert result.not_after == cert.not_valid_after_utc
    # the self-signature verifies
    cert.verify_directly_issued_by(cert)


def test_custom_common_name_and_serials_differ(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = qs_jwt.create_key_files(str(tmp_path / "one") + "/", days=10, key_size=2048, common_name="Åsa signer")
    two = qs_jwt.create_key_files(str(tmp_path / "two") + "/", days=3650, key_size=2048)
    cn = one.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Åsa signer"
    assert one.certificate.serial_number != two.certificate.serial_number
    for result, days in ((one, 10), (two, 3650)):
        serial = result.certificate.serial_number
        assert 0 < serial < 2**159
        assert result.not_after - result.not_before == dt.timedelta(days=days)
    assert one.private_key.public_key().public_numbers() != two.private_key.public_key().public_numbers()


def test_private_key_mode_is_0600_even_with_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        result = qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, now=FIXED_NOW)
    finally:
        os.umask(old)
    assert mode_of(result.private_key_path) == 0o600
    assert mode_of(result.public_key_path) == 0o644
    assert mode_of(result.certificate_path) == 0o644


def test_passphrase_encrypts_the_private_key(tmp_path: Path) -> None:
    result = qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, passphrase=PASSPHRASE)
    assert result.encrypted is True
    data = Path(result.private_key_path).read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = qs_jwt.load_private_key(data, passphrase=PASSPHRASE)
    assert key.public_key().public_numbers() == result.private_key.public_key().public_numbers()
    with pytest.raises(KeyLoadError):
        qs_jwt.load_private_key(data)
    with pytest.raises(KeyLoadError):
        qs_jwt.load_private_key(data, passphrase="wrong")
    assert mode_of(result.private_key_path) == 0o600


def test_prefix_with_folder_and_name(tmp_path: Path, fast_keygen: list[int]) -> None:
    (tmp_path / "keys").mkdir()
    result = qs_jwt.create_key_files(str(tmp_path / "keys" / "prod-"), days=1, key_size=3072)
    assert listing(tmp_path / "keys") == sorted("prod-" + n for n in NAMES)
    assert result.private_key_path.endswith("keys/prod-privatekey.pem")
    assert fast_keygen == [3072]
    assert key_file_paths("x/") == ("x/privatekey.pem", "x/publickey.pem", "x/publickey.cer")


def test_relative_prefix_uses_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int]
) -> None:
    monkeypatch.chdir(tmp_path)
    qs_jwt.create_key_files(days=1, key_size=2048)
    assert listing(tmp_path) == sorted(NAMES)


# --- create_key_files: refusals before any key is made --------------------------------------


@pytest.mark.parametrize("existing", NAMES)
def test_existing_file_without_force(tmp_path: Path, no_keygen: None, existing: str) -> None:
    target = tmp_path / existing
    target.write_bytes(b"old content\n")
    target.chmod(0o640)
    os.utime(target, (1_000_000_000, 1_000_000_000))
    before = target.stat()
    with pytest.raises(OutputExistsError) as info:
        qs_jwt.create_key_files(str(tmp_path) + "/", days=365, key_size=2048)
    assert info.value.paths == [str(target)]
    assert "force=True" in str(info.value)
    after = target.stat()
    assert target.read_bytes() == b"old content\n"
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert after.st_mtime_ns == before.st_mtime_ns
    assert listing(tmp_path) == [existing]


def test_dangling_symlink_counts_as_existing(tmp_path: Path, no_keygen: None) -> None:
    (tmp_path / "privatekey.pem").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputExistsError):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert not (tmp_path / "nowhere").exists()


def test_force_replaces_and_makes_private_key_0600(tmp_path: Path) -> None:
    for name in NAMES:
        (tmp_path / name).write_bytes(b"old\n")
        (tmp_path / name).chmod(0o644)
    old = os.umask(0)
    try:
        result = qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, force=True)
    finally:
        os.umask(old)
    assert mode_of(result.private_key_path) == 0o600
    assert mode_of(result.public_key_path) == 0o644
    for name in NAMES:
        assert (tmp_path / name).read_bytes() != b"old\n"
    assert qs_jwt.load_private_key((tmp_path / "privatekey.pem").read_bytes()).key_size == 2048
    assert listing(tmp_path) == sorted(NAMES)


@pytest.mark.parametrize("days", [0, -1, "NaN", "1e3", 10**9, True, False, 1.5, "1.5", "", " ", None, "٣", "36501",
                                  36501, float("nan")])
def test_bad_days_refused_before_keygen(tmp_path: Path, no_keygen: None, days: Any) -> None:
    with pytest.raises(InvalidValueError) as info:
        qs_jwt.create_key_files(str(tmp_path) + "/", days=days, key_size=2048)
    assert info.value.param == "days"
    assert str(info.value) == f"days: {info.value.reason}"
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("days", "reason"),
    [(0, "must be at least 1 (got 0)"), ("-3", "must be at least 1 (got -3)"),
     (36501, "must be at most 36500, about 100 years (got 36501)"), ("1.5", "expected a whole number, e.g. 365"),
     (1.5, "expected a whole number (an int, or its digits as text), not float"),
     (True, "expected a whole number (an int, or its digits as text), not bool")],
)
def test_validate_days_messages(days: Any, reason: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        validate_days(days)
    assert (info.value.param, info.value.reason) == ("days", reason)


@pytest.mark.parametrize(("days", "expected"), [(1, 1), ("365", 365), (" 30 ", 30), (36500, 36500)])
def test_validate_days_accepts(days: Any, expected: int) -> None:
    assert validate_days(days) == expected


@pytest.mark.parametrize("key_size", [1024, 2047, 8192, 0])
def test_bad_key_size_refused_before_keygen(tmp_path: Path, no_keygen: None, key_size: int) -> None:
    with pytest.raises(InvalidValueError, match="2048") as info:
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=key_size)
    assert info.value.param == "key_size"
    assert str(info.value) == f"key_size: {key_size} is not offered; use 2048, 3072, 4096"
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("arguments", "param", "error"),
    [
        ({"key_size": "4096"}, "key_size", ArgumentTypeError),
        ({"key_size": 4096.0}, "key_size", ArgumentTypeError),
        ({"passphrase": "x" * 1024}, "passphrase", InvalidValueError),
        ({"passphrase": "é" * 512}, "passphrase", InvalidValueError),  # 1024 bytes in UTF-8
        ({"passphrase": 1234}, "passphrase", ArgumentTypeError),
        ({"passphrase": "\ud800"}, "passphrase", InvalidValueError),
        ({"common_name": None}, "common_name", ArgumentTypeError),
    ],
)
def test_bad_arguments_refused_before_keygen(
    tmp_path: Path, no_keygen: None, arguments: dict[str, Any], param: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        qs_jwt.create_key_files(str(tmp_path) + "/", **{"days": 1, "key_size": 2048, **arguments})
    assert isinstance(info.value, InvalidValueError)
    assert info.value.param == param
    assert param not in info.value.reason
    assert "xxxx" not in str(info.value)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("prefix", ["a\x00b-", "\ud800-", None, b"keys/"])
def test_bad_prefix_refused_before_keygen(tmp_path: Path, no_keygen: None, prefix: Any) -> None:
    with pytest.raises(InvalidValueError) as info:
        qs_jwt.create_key_files(prefix, days=1, key_size=2048)
    assert info.value.param == "prefix"
    assert "prefix" not in info.value.reason


def test_longest_passphrase_for_a_new_key(tmp_path: Path, fast_keygen: list[int]) -> None:
    secret = "x" * 1023
    result = qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, passphrase=secret)
    assert result.encrypted is True
    assert qs_jwt.load_private_key(Path(result.private_key_path), passphrase=secret).key_size == 2048
    empty = qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, passphrase="", force=True)
    assert empty.encrypted is False


@pytest.mark.parametrize("cn", ["", "   ", "x" * 65, "a\nb", "a\x00b", "\udcff"])
def test_bad_common_name_refused_before_keygen(tmp_path: Path, no_keygen: None, cn: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, common_name=cn)
    assert info.value.param == "common_name"
    assert listing(tmp_path) == []


def test_validate_common_name_accepts_unicode() -> None:
    assert validate_common_name("Åsa 😀") == "Åsa 😀"
    assert validate_common_name("x" * 64) == "x" * 64


def test_missing_folder(tmp_path: Path, no_keygen: None) -> None:
    with pytest.raises(FileWriteError, match="does not exist") as info:
        qs_jwt.create_key_files(str(tmp_path / "missing" / "k-"), days=1, key_size=2048)
    assert "missing" in info.value.path
    assert listing(tmp_path) == []


def test_prefix_pointing_to_a_directory(tmp_path: Path, no_keygen: None) -> None:
    (tmp_path / "x-publickey.pem").mkdir()
    with pytest.raises(FileWriteError, match="directory"):
        qs_jwt.create_key_files(str(tmp_path / "x-"), days=1, key_size=2048)
    assert listing(tmp_path) == ["x-publickey.pem"]
    assert listing(tmp_path / "x-publickey.pem") == []


def test_prefix_pointing_to_a_directory_even_with_force(tmp_path: Path, no_keygen: None) -> None:
    (tmp_path / "privatekey.pem").mkdir()
    with pytest.raises(FileWriteError, match="directory"):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, force=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder(tmp_path: Path, no_keygen: None) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(FileWriteError, match="not writable"):
            qs_jwt.create_key_files(str(folder) + "/", days=1, key_size=2048)
        assert listing(folder) == []
    finally:
        folder.chmod(0o755)


def test_read_only_folder_simulated(tmp_path: Path, no_keygen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if os.path.realpath(path) == os.path.realpath(tmp_path) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(qs_jwt._files.os, "access", access)
    with pytest.raises(FileWriteError, match="not writable"):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert listing(tmp_path) == []


# --- create_key_files: failure in the middle -------------------------------------------------


def _failing_commit(monkeypatch: pytest.MonkeyPatch, fail_on: int, error: BaseException | None = None) -> list[str]:
    """Make the fail_on-th move of a staged file into place fail (all three files are staged first)."""
    calls: list[str] = []
    real = qs_jwt._files._commit

    def commit(tmp: str, path: str, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == fail_on:
            raise error if error is not None else FileWriteError(path, "No space left on device")
        real(tmp, path, **kwargs)

    monkeypatch.setattr(qs_jwt._files, "_commit", commit)
    return calls


@pytest.mark.parametrize("fail_on", [1, 2, 3])
def test_failure_in_the_middle_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int], fail_on: int
) -> None:
    calls = _failing_commit(monkeypatch, fail_on)
    with pytest.raises(FileWriteError, match="No space"):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert len(calls) == fail_on
    assert listing(tmp_path) == []


def test_interrupt_in_the_middle_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int]
) -> None:
    _failing_commit(monkeypatch, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert listing(tmp_path) == []


def test_real_write_failure_in_the_middle_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int]
) -> None:
    """The second write fails inside write_atomic itself (fsync reports ENOSPC)."""
    real_fsync = os.fsync
    count = {"files": 0}

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            count["files"] += 1
            if count["files"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(qs_jwt._files.os, "fsync", fsync)
    with pytest.raises(FileWriteError, match="No space"):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048)
    assert listing(tmp_path) == []


def test_failure_with_force_removes_files_this_call_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int]
) -> None:
    _failing_commit(monkeypatch, 2)
    with pytest.raises(FileWriteError):
        qs_jwt.create_key_files(str(tmp_path) + "/", days=1, key_size=2048, force=True)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("fail_on", [2, 3])
def test_failure_with_force_puts_the_old_set_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_keygen: list[int], fail_on: int
) -> None:
    """A failed replacement must not leave a new private key beside the old certificate."""
    prefix = str(tmp_path) + "/"
    qs_jwt.create_key_files(prefix, days=1, key_size=2048)
    before = {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)}
    _failing_commit(monkeypatch, fail_on)
    with pytest.raises(FileWriteError):
        qs_jwt.create_key_files(prefix, days=1, key_size=2048, force=True)
    assert {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)} == before
    assert mode_of(tmp_path / "privatekey.pem") == 0o600


# --- write_atomic / check_outputs ------------------------------------------------------------


def test_write_atomic_new_file(tmp_path: Path) -> None:
    path = tmp_path / "out.pem"
    old = os.umask(0)
    try:
        write_atomic(str(path), b"data")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data"
    assert mode_of(path) == 0o600
    write_atomic(str(tmp_path / "public.pem"), b"pub", mode=0o644)
    assert mode_of(tmp_path / "public.pem") == 0o644
    assert no_temp_files(tmp_path)


def test_write_atomic_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    with pytest.raises(OutputExistsError) as info:
        write_atomic(str(path), b"new")
    assert info.value.paths == [str(path)]
    assert path.read_bytes() == b"old"
    assert mode_of(path) == 0o644
    assert listing(tmp_path) == ["out.pem"]


def test_write_atomic_refuses_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.pem"
    link.symlink_to(tmp_path / "target.pem")
    with pytest.raises(OutputExistsError):
        write_atomic(str(link), b"new")
    assert not (tmp_path / "target.pem").exists()
    assert listing(tmp_path) == ["link.pem"]


def test_write_atomic_force_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    write_atomic(str(path), b"new", force=True)
    assert path.read_bytes() == b"new"
    assert mode_of(path) == 0o600
    assert listing(tmp_path) == ["out.pem"]


def test_write_atomic_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError) as info:
        write_atomic(str(tmp_path / "missing" / "out.pem"), b"x")
    assert info.value.path.endswith("out.pem")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("failing", ["fsync", "link"])
def test_write_atomic_error_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(qs_jwt._files.os, failing, fail)
    with pytest.raises(FileWriteError, match="No space"):
        write_atomic(str(tmp_path / "out.pem"), b"x" * 10_000)
    assert listing(tmp_path) == []


def test_write_atomic_interrupt_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(qs_jwt._files.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(tmp_path / "out.pem"), b"x")
    assert listing(tmp_path) == []


def test_write_atomic_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(qs_jwt._files.os, "link", no_links)
    path = tmp_path / "out.pem"
    write_atomic(str(path), b"data")
    assert path.read_bytes() == b"data"
    with pytest.raises(OutputExistsError):
        write_atomic(str(path), b"other")
    assert path.read_bytes() == b"data"
    assert listing(tmp_path) == ["out.pem"]


def test_check_outputs(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    check_outputs([a, b], force=False)
    with pytest.raises(FileWriteError, match="same file"):
        check_outputs([a, str(tmp_path / "." / "a")], force=False)
    Path(a).write_bytes(b"")
    Path(b).write_bytes(b"")
    with pytest.raises(OutputExistsError) as info:
        check_outputs([a, b], force=False)
    assert info.value.paths == [a, b]
    check_outputs([a, b], force=True)


# --- single_line_pem / describe_key_material -------------------------------------------------


def test_single_line_pem() -> None:
    pem = key_bytes("rsa2048_cert.pem")
    line = qs_jwt.single_line_pem(pem)
    assert "\n" not in line and "\r" not in line
    assert line.startswith("-----BEGIN CERTIFICATE-----MII")
    assert line.endswith("-----END CERTIFICATE-----")
    assert qs_jwt.single_line_pem(pem.replace(b"\n", b"\r\n").decode()) == line


@pytest.mark.parametrize(
    ("name", "kind", "key_type", "size"),
    [
        ("rsa2048_cert.pem", "certificate", "RSA", 2048),
        ("rsa2048_public.pem", "public key", "RSA", 2048),
        ("rsa2048_pkcs8.pem", "private key", "RSA", 2048),
        ("rsa2048_pkcs8.der", "private key", "RSA", 2048),
        ("rsa1024_public.pem", "public key", "RSA", 1024),
        ("ec_p256.pem", "private key", "EC", 256),
    ],
)
def test_describe_key_material(name: str, kind: str, key_type: str, size: int) -> None:
    info = qs_jwt.describe_key_material(key_bytes(name), source=name)
    assert (info.kind, info.key_type, info.key_size) == (kind, key_type, size)
    data = info.to_dict()
    assert data["kind"] == kind
    assert len(info.sha256_fingerprint.split(":")) == 32
    if key_type == "RSA":
        assert info.thumbprint == qs_jwt.jwk_thumbprint(info.public_key)  # type: ignore[arg-type]
        assert data["publicExponent"] == 65537
    # no private material in the description
    text = repr(data)
    for line in key_bytes(name).decode("ascii", "replace").splitlines()[1:-1]:
        if kind == "private key" and line.strip():
            assert line not in text


def test_describe_certificate_dates() -> None:
    info = qs_jwt.describe_key_material(key_bytes("rsa2048_cert.pem"))
    data = info.to_dict()
    assert data["notBefore"] == "2026-01-01T00:00:00Z"
    assert data["signatureHash"] == "sha256"
    assert info.single_line_pem() == qs_jwt.single_line_pem(key_bytes("rsa2048_cert.pem"))


def test_describe_encrypted_key() -> None:
    info = qs_jwt.describe_key_material(key_bytes("rsa2048_encrypted.pem"), passphrase=PASSPHRASE)
    assert info.encrypted is True
    with pytest.raises(KeyLoadError, match="passphrase"):
        qs_jwt.describe_key_material(key_bytes("rsa2048_encrypted.pem"), source="k.pem")
    with pytest.raises(KeyLoadError, match="wrong passphrase"):
        qs_jwt.describe_key_material(key_bytes("rsa2048_encrypted.pem"), passphrase="nope")


@pytest.mark.parametrize("data", [b"garbage", b"", b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"])
def test_describe_refuses_non_keys(data: bytes) -> None:
    with pytest.raises(KeyLoadError):
        qs_jwt.describe_key_material(data, source="x")


def test_describe_encrypted_der_key(private_key: Any) -> None:
    data = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    )
    assert qs_jwt.load_private_key(data, passphrase=PASSPHRASE).key_size == 2048
    info = qs_jwt.describe_key_material(data, passphrase=PASSPHRASE)
    assert (info.kind, info.encrypted) == ("private key", True)
    assert qs_jwt.check_key_material(data, passphrase=PASSPHRASE, now=FIXED_NOW).findings == []
