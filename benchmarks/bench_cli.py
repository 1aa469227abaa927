#!/usr/bin/env python3
"""Time the qs-jwt command line against the interpreter's own start-up, and measure in-process minting.

Run from anywhere, with the interpreter whose qs-jwt installation should be measured::

    python benchmarks/bench_cli.py            # 20 interleaved runs per command
    python benchmarks/bench_cli.py --runs 50  # steadier numbers
    python benchmarks/bench_cli.py --check    # exit 1 when a budget is exceeded

Every command runs as a fresh process (``sys.executable``), one of each per round, in a rotating order,
so that drift in the machine's speed (other work, CPU frequency) affects all commands alike. The floor is
``python -c pass``; budgets are ratios to it. Peak RSS comes from a few extra runs under GNU ``/usr/bin/time``
when it is installed. Without it, the child's ``ru_maxrss`` (``os.wait4``) is shown, marked as an upper bound:
on Linux a child spawned from this script inherits the script's own RSS high-water mark.

Exit codes: 0 done (budgets only reported), 1 a budget was exceeded and ``--check`` was given,
2 a benchmarked command failed. Standard library only; not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "tests" / "keys"
KEY_2048 = KEYS / "rsa2048_pkcs8.pem"
KEY_4096 = KEYS / "rsa4096_pkcs8.pem"
PUBLIC_4096 = KEYS / "rsa4096_public.pem"

#: name of the command -> the largest acceptable ratio of its median wall time to the floor's
BUDGETS = {
    "help": 4.0,  # start-up: argparse and the CLI module only
    "create-qscloud": 9.0,  # a token from an existing key
    "create-qseow": 9.0,
}
#: 0.1.0's ratios on the development machine (benchmarks/README.md); a change may cost at most 10 % of them
REFERENCE_0_1 = {"help": 2.43, "create-qscloud": 6.16, "create-qseow": 6.30}
REGRESSION_ALLOWANCE = 1.10


@dataclass
class Command:
    name: str
    label: str
    argv: list[str]
    wall: list[float] = field(default_factory=list)  # seconds
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the child
    rss: list[int] = field(default_factory=list)  # peak resident set size, bytes


class CommandFailed(Exception):
    pass


def _rss_bytes(maxrss: int) -> int:
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # Linux and the BSDs report KiB


def _child_env() -> dict[str, str]:
    """The environment for the children: no key or passphrase from the caller's shell, and src/ importable
    when qs_jwt is not installed into this interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    env.pop("PYTHONSTARTUP", None)
    try:
        import qs_jwt  # noqa: F401
    except ImportError:
        src = str(ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def precompile(env: dict[str, str]) -> None:
    """Byte-compile the qs_jwt package, as `pip install` does. From an editable install or src/, and with
    PYTHONDONTWRITEBYTECODE set (as on some machines), every run would otherwise compile the sources again
    and the benchmark would measure the compiler, not the tool."""
    import compileall

    where = subprocess.run([sys.executable, "-c", "import os, qs_jwt; print(os.path.dirname(qs_jwt.__file__))"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    compileall.compile_dir(where, quiet=1)
    print(f"byte-compiled {where} (as pip install does)")


def run_once(command: Command, env: dict[str, str], workdir: str) -> None:
    """Run ``command`` once and record wall time, CPU time and ``ru_maxrss``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; keep Popen from waiting again
        if proc.returncode != 0:
            raise CommandFailed(f"{command.label} exited with {proc.returncode}: {_tail(err)}")
    command.wall.append(elapsed)
    command.cpu.append(usage.ru_utime + usage.ru_stime)
    command.rss.append(_rss_bytes(usage.ru_maxrss))


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace").strip()[-2000:]


def gnu_time() -> str | None:
    """The path of GNU time (which understands ``-f %M``), or None."""
    path = "/usr/bin/time"
    if not os.access(path, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(mode="r") as out:
        result = subprocess.run([path, "-f", "%M", "-o", out.name, "true"], capture_output=True, check=False)
        return path if result.returncode == 0 and out.read().strip().isdigit() else None


def peak_rss(command: Command, env: dict[str, str], workdir: str, timer: str, runs: int) -> None:
    """Replace ``command.rss`` with the peak RSS of ``runs`` runs under GNU time (``%M``, KiB).

    GNU time is a small process, so its child's high-water mark is the command's own.
    """
    command.rss.clear()
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(mode="r") as rss, tempfile.TemporaryFile() as err:
            returncode = subprocess.call([timer, "-f", "%M", "-o", rss.name, *command.argv], env=env, cwd=workdir,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            if returncode != 0:
                raise CommandFailed(f"{command.label} exited with {returncode} under {timer}: {_tail(err)}")
            command.rss.append(int(rss.read().split()[-1]) * 1024)


def make_token(workdir: str, env: dict[str, str]) -> str:
    """A Qlik Cloud token signed with the 4096-bit test key, in a file, for ``decode``."""
    path = os.path.join(workdir, "token.txt")
    result = subprocess.run(
        [sys.executable, "-m", "qs_jwt", "create-qscloud", "--cert-privatekey-file", str(KEY_4096),
         "--keyid", "my-key", "--issuer", "my-app", "--sub", "alice-42", "--expires", "1h"],
        env=env, cwd=workdir, capture_output=True, check=False,
    )
    if result.returncode != 0:
        raise CommandFailed(f"making the token for decode failed: {result.stderr.decode('utf-8', 'replace')}")
    Path(path).write_bytes(result.stdout)
    return path


def build_commands(token_file: str) -> list[Command]:
    py = sys.executable
    user = ["--useremail", "alice@example.com", "--useremail-verified", "true", "--username", "Alice Smith",
            "--groups", "Sales", "Team A"]
    return [
        Command("floor", "python -c pass (floor)", [py, "-c", "pass"]),
        Command("help", "qs-jwt --help", [py, "-m", "qs_jwt", "--help"]),
        Command("create-qscloud", "create-qscloud, 4096-bit key",
                [py, "-m", "qs_jwt", "create-qscloud", "--cert-privatekey-file", str(KEY_4096),
                 "--keyid", "my-key", "--issuer", "my-app", "--sub", "alice-42", *user, "--expires", "5m"]),
        Command("create-qseow", "create-qseow, 4096-bit key",
                [py, "-m", "qs_jwt", "create-qseow", "--cert-privatekey-file", str(KEY_4096),
                 "--userdir", "ACME", "--userid", "alice", "--audience", "qlik", "--expires", "1h",
                 "--groups", "Sales", "Team A"]),
        Command("decode", "decode + verify, 4096-bit public key",
                [py, "-m", "qs_jwt", "decode", "--jwt-file", token_file, "--cert-publickey-file", str(PUBLIC_4096),
                 "--expected-audience", "qlik.api/login/jwt-session", "--expected-issuer", "my-app"]),
    ]


def benchmark(commands: list[Command], runs: int, env: dict[str, str], workdir: str) -> None:
    """One warm-up round, then ``runs`` rounds; each round runs every command once, in a rotated order."""
    for command in commands:  # warm-up: byte-code caches, page cache; not recorded
        run_once(command, env, workdir)
        command.wall.clear()
        command.cpu.clear()
        command.rss.clear()
    for index in range(runs):
        shift = index % len(commands)
        for command in commands[shift:] + commands[:shift]:
            run_once(command, env, workdir)


#: the factory must mint at least this share of raw cryptography RSA signatures per second (same key, same run)
MINT_RATIO_BUDGET = 0.85


def mint_throughput(key_path: Path, seconds: float) -> tuple[float, float]:
    """Tokens per second for QsCloudTokenFactory.create, and raw ``cryptography`` RSA signatures per second
    (PKCS#1 v1.5, SHA-256, over a token-sized input) with the same key: the ceiling of any minter.

    The two are measured in alternating slices of 0.2 s, so that a slow spell of the machine lands on both.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    import qs_jwt

    key = qs_jwt.load_private_key(key_path.read_bytes())
    settings = qs_jwt.QsCloudSettings(issuer="my-app", keyid="my-key", expires="5m")
    factory = qs_jwt.QsCloudTokenFactory(key, settings)
    user = qs_jwt.QsCloudUser(sub="alice-42", email="alice@example.com", email_verified=True, name="Alice Smith",
                              groups=["Sales", "Team A"])
    data = factory.create(user).token.rsplit(".", 1)[0].encode("ascii")
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def mint() -> object:
        return factory.create(user)

    def raw() -> object:
        return key.sign(data, pkcs1, sha256)

    counts = {mint: 0, raw: 0}
    spent = {mint: 0.0, raw: 0.0}
    end = time.perf_counter() + 2 * seconds
    while time.perf_counter() < end:
        for step in (mint, raw):
            step()  # outside the timing: the first call after a switch
            start = time.perf_counter()
            deadline = start + 0.2
            while True:
                step()
                counts[step] += 1
                now = time.perf_counter()
                if now >= deadline:
                    spent[step] += now - start
                    break
    return counts[mint] / spent[mint], counts[raw] / spent[raw]


def _versions() -> str:
    parts = [f"Python {platform.python_version()} ({sys.executable})"]
    try:
        import qs_jwt

        parts.append(f"qs-jwt {qs_jwt.__version__}")
    except ImportError:
        parts.append("qs-jwt from src/")
    try:
        from importlib.metadata import version

        parts.append(f"cryptography {version('cryptography')}")
    except Exception:  # noqa: S110 - informational only
        pass
    parts.append(f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    return ", ".join(parts)


def report(commands: list[Command], runs: int, rss_source: str) -> list[tuple[str, float, float, bool]]:
    floor = statistics.median(commands[0].wall)
    print(f"{runs} interleaved runs per command (after one warm-up round); wall and CPU time in ms (median, min);")
    print(f"peak RSS in MiB ({rss_source})\n")
    header = f"{'command':<38} {'median':>8} {'min':>8} {'cpu':>8} {'x floor':>8} {'peak RSS':>9}"
    print(header)
    print("-" * len(header))
    for command in commands:
        median = statistics.median(command.wall)
        print(f"{command.label:<38} {median * 1000:8.1f} {min(command.wall) * 1000:8.1f} "
              f"{statistics.median(command.cpu) * 1000:8.1f} {median / floor:8.2f} "
              f"{statistics.median(command.rss) / 2**20:9.1f}")
    results = []
    by_name = {command.name: command for command in commands}
    print("\nbudgets (median wall time / median floor)")
    for name, limit in BUDGETS.items():
        ratio = statistics.median(by_name[name].wall) / floor
        ok = ratio <= limit
        results.append((by_name[name].label, ratio, limit, ok))
        print(f"  {by_name[name].label:<36} {ratio:5.2f}x  (budget {limit:g}x)  {'PASS' if ok else 'OVER'}")
    print(f"\nagainst 0.1.0 (its ratio x {REGRESSION_ALLOWANCE:g})")
    for name, reference in REFERENCE_0_1.items():
        ratio = statistics.median(by_name[name].wall) / floor
        limit = reference * REGRESSION_ALLOWANCE
        ok = ratio <= limit
        results.append((f"{by_name[name].label} vs 0.1.0", ratio, limit, ok))
        print(f"  {by_name[name].label:<36} {ratio:5.2f}x  (0.1.0: {reference:g}x, limit {limit:.2f}x)  "
              f"{'PASS' if ok else 'OVER'}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (default 20)")
    parser.add_argument("--mint-seconds", type=float, default=2.0,
                        help="seconds of in-process minting per key and method (default 2; 0 skips it)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is exceeded")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    for path in (KEY_2048, KEY_4096, PUBLIC_4096):
        if not path.is_file():
            print(f"bench_cli: missing test key {path}", file=sys.stderr)
            return 2
    print(f"qs-jwt CLI benchmark: {_versions()}")
    env = _child_env()
    precompile(env)
    workdir = tempfile.mkdtemp(prefix="qs-jwt-bench-")
    try:
        commands = build_commands(make_token(workdir, env))
        benchmark(commands, args.runs, env, workdir)
        timer = gnu_time()
        if timer is not None:
            for command in commands:
                peak_rss(command, env, workdir, timer, runs=3)
            rss_source = f"median of 3 runs under {timer}"
        else:
            rss_source = "ru_maxrss from os.wait4: an upper bound, it includes this script's own RSS"
    except CommandFailed as exc:
        print(f"bench_cli: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = report(commands, args.runs, rss_source)
    if args.mint_seconds > 0:
        if "PYTHONPATH" in env and str(ROOT / "src") not in sys.path:
            sys.path.insert(0, str(ROOT / "src"))
        print(f"\nin-process minting, one key reused, {args.mint_seconds:g} s each (per second)")
        print(f"  {'key':<14} {'QsCloudTokenFactory.create':>27} {'raw RSA signs':>14} {'ratio':>6}")
        for bits, path in ((2048, KEY_2048), (4096, KEY_4096)):
            full, raw = mint_throughput(path, args.mint_seconds)
            ok = full / raw >= MINT_RATIO_BUDGET
            results.append((f"factory, {bits}-bit key", full / raw, MINT_RATIO_BUDGET, ok))
            print(f"  {f'{bits}-bit RSA':<14} {full:17.0f} ({1000 / full:5.2f} ms) {raw:14.0f} {full / raw:6.2f}"
                  f"  (budget >= {MINT_RATIO_BUDGET:g}) {'PASS' if ok else 'UNDER'}")
    over = [label for label, _, _, ok in results if not ok]
    if over and args.check:
        print(f"\nover budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
