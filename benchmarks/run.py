#!/usr/bin/env python3
"""One table of every qs-jwt benchmark, each row a ratio to its reference measured in the same run.

    python benchmarks/run.py                  # about two minutes on a 2-core machine
    python benchmarks/run.py --quick          # a smoke run (fewer runs and rows)
    NODE_QS_JWT=path/to/qs-jwt.js python benchmarks/run.py   # adds the Node qs-jwt's rows

Rows:

- start-up: ``qs-jwt --help`` and one token from a 4096-bit key, as separate processes, against ``python -c pass``
  (from ``bench_cli``; interleaved runs, medians);
- decode and verify, against the same floor;
- the factory under 16 threads: tokens per second of one ``QsCloudTokenFactory`` against raw ``cryptography``
  signatures per second with the same 16 threads;
- batch: ``qs-jwt batch qscloud`` tokens per second on ``--rows`` rows with ``--workers`` processes, against raw
  signatures per second of that many processes signing side by side (2048- and 4096-bit keys);
- key generation: ``qs-jwt cert create`` of a 2048- and a 4096-bit key against ``openssl genrsa`` (when openssl is
  installed; RSA key generation time varies a lot from key to key, so several runs, medians);
- peak memory: one token, and a batch of ``--memory-rows`` rows (GNU time's ``%M``, else ``ru_maxrss``).

With ``NODE_QS_JWT`` naming the Node tool's script, its ``--help`` and ``create-qscloud`` run too (with ``node``).
Standard library and the project only; not part of the test suite. Exit 2 when a benchmarked command fails.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cli

ROOT = bench_cli.ROOT
KEYS = bench_cli.KEYS
KEY_BY_BITS = {2048: bench_cli.KEY_2048, 4096: bench_cli.KEY_4096}
#: batch must reach this share of the raw signing rate of as many processes
BATCH_BUDGET = 0.85
FACTORY_BUDGET = 0.85
THREADS = 16


def _sign_for(args: tuple[str, float]) -> float:
    """In a worker process: raw RSA signatures per second with the key at ``path`` for ``seconds``."""
    path, seconds = args
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    data = b"e" * 700  # the signing input of a typical token
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.sign(data, pkcs1, sha256)  # type: ignore[union-attr, call-arg]
        count += 1
    return count / (time.perf_counter() - start)


def raw_signs_side_by_side(key: Path, processes: int, seconds: float) -> float:
    """Signatures per second of ``processes`` processes signing at once (the machine's ceiling for minting)."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_sign_for, [(str(key), seconds)] * processes))


def factory_under_threads(key: Path, threads: int, seconds: float) -> tuple[float, float]:
    """Tokens per second of one factory shared by ``threads`` threads, and raw signs per second of as many."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    import qs_jwt

    private = qs_jwt.load_private_key(key.read_bytes())
    factory = qs_jwt.QsCloudTokenFactory(private, qs_jwt.QsCloudSettings(issuer="my-app", keyid="my-key"))
    user = qs_jwt.QsCloudUser(sub="alice-42", email="alice@example.com", email_verified=True)
    data = factory.create(user).token.rsplit(".", 1)[0].encode()

    def rate(work: object) -> float:
        counts = [0] * threads
        stop = time.perf_counter() + seconds

        def run(index: int) -> None:
            while time.perf_counter() < stop:
                work()  # type: ignore[operator]
                counts[index] += 1

        started = time.perf_counter()
        pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return sum(counts) / (time.perf_counter() - started)

    minted = rate(lambda: factory.create(user))
    raw = rate(lambda: private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    return minted, raw


def _users_file(folder: Path, rows: int) -> Path:
    path = folder / f"users-{rows}.csv"
    if not path.exists():
        with path.open("w", encoding="utf-8") as handle:
            handle.write("sub,useremail,useremail_verified,groups\n")
            for number in range(rows):
                handle.write(f"user-{number},user{number}@example.com,true,Sales;Team A\n")
    return path


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, of the process tree's largest process) of one command."""
    timer = bench_cli.gnu_time()
    with tempfile.NamedTemporaryFile(mode="r") as rss:
        command = [timer, "-f", "%M", "-o", rss.name, *argv] if timer else argv
        start = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise bench_cli.CommandFailed(f"{' '.join(argv[:4])} exited with {done.returncode}: "
                                          f"{done.stderr.decode('utf-8', 'replace')[-1500:]}")
        peak = int(rss.read().split()[-1]) * 1024 if timer else 0
    return elapsed, peak


def batch_rate(key: Path, rows: int, workers: int, folder: Path, env: dict[str, str]) -> tuple[float, int]:
    users = _users_file(folder, rows)
    out = folder / f"tokens-{key.stem}-{rows}.jsonl"
    out.unlink(missing_ok=True)
    elapsed, peak = _run([sys.executable, "-m", "qs_jwt", "batch", "qscloud", "--input", str(users), "--output",
                          str(out), "--issuer", "my-app", "--keyid", "my-key", "--cert-privatekey-file", str(key),
                          "--workers", str(workers), "--no-progress"], env, folder)
    out.unlink(missing_ok=True)
    return rows / elapsed, peak


def keygen_times(bits: int, runs: int, folder: Path, env: dict[str, str]) -> tuple[float, float | None]:
    """Median seconds of ``qs-jwt cert create`` and of ``openssl genrsa`` (None without openssl)."""
    ours, theirs = [], []
    openssl = shutil.which("openssl")
    for number in range(runs):
        prefix = folder / f"gen-{bits}-{number}-"
        elapsed, _ = _run([sys.executable, "-m", "qs_jwt", "cert", "create", "--cert-file-prefix", str(prefix),
                           "--cert-create-expires-days", "30", "--cert-create-key-size", str(bits),
                           "--loglevel", "error"], env, folder)
        ours.append(elapsed)
        if openssl:
            elapsed, _ = _run([openssl, "genrsa", "-out", str(folder / f"openssl-{bits}-{number}.pem"), str(bits)],
                              env, folder)
            theirs.append(elapsed)
    return statistics.median(ours), statistics.median(theirs) if theirs else None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Windows, macOS
        return os.cpu_count() or 1


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {_cpus()} CPUs usable, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer runs and rows")
    parser.add_argument("--runs", type=int, default=None, help="interleaved runs per CLI command (default 15)")
    parser.add_argument("--rows", type=int, default=None, help="batch rows per key size (default 100000)")
    parser.add_argument("--memory-rows", type=int, default=None, help="rows of the memory run (default 1000000)")
    parser.add_argument("--workers", type=int, default=None, help="batch processes (default: the usable CPUs)")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 15)
    rows = args.rows or (2000 if args.quick else 100_000)
    memory_rows = args.memory_rows or (5000 if args.quick else 1_000_000)
    workers = args.workers or _cpus()
    env = bench_cli._child_env()
    bench_cli.precompile(env)
    folder = Path(tempfile.mkdtemp(prefix="qs-jwt-bench-"))
    table: list[tuple[str, str, str, str]] = []

    def row(name: str, measured: str, reference: str, ratio: str) -> None:
        table.append((name, measured, reference, ratio))

    try:
        token_file = bench_cli.make_token(str(folder), env)
        commands = bench_cli.build_commands(token_file)
        node = os.environ.get("NODE_QS_JWT")
        if node and shutil.which("node"):
            commands += [bench_cli.Command("node-help", "Node qs-jwt --help", ["node", node, "--help"]),
                         bench_cli.Command("node-create", "Node qs-jwt create-qscloud, 4096-bit key",
                                           ["node", node, "create-qscloud", "--cert-privatekey-file",
                                            str(bench_cli.KEY_4096), "--keyid", "my-key", "--issuer", "my-app",
                                            "--useremail", "alice@example.com", "--useremail-verified", "true",
                                            "--expires", "5m"]),
                         bench_cli.Command("node-decode", "Node qs-jwt decode + verify, 4096-bit",
                                           ["node", node, "decode", "--jwt", Path(token_file).read_text().strip(),
                                            "--cert-publickey-file", str(bench_cli.PUBLIC_4096)])]
        bench_cli.benchmark(commands, runs, env, str(folder))
        floor = statistics.median(commands[0].wall)
        for command in commands[1:]:
            median = statistics.median(command.wall)
            row(command.label, f"{median * 1000:.0f} ms", f"{floor * 1000:.0f} ms (python -c pass)",
                f"{median / floor:.2f}x")
        minted, raw = factory_under_threads(bench_cli.KEY_2048, THREADS, 1.0 if args.quick else 3.0)
        row(f"factory, {THREADS} threads, 2048-bit", f"{minted:.0f} tokens/s", f"{raw:.0f} signs/s (raw, "
            f"{THREADS} threads)", f"{minted / raw:.2f} (budget {FACTORY_BUDGET})")
        for bits, key in KEY_BY_BITS.items():
            batch_rows = rows if bits == 2048 else max(rows // 8, 200)
            rate, _ = batch_rate(key, batch_rows, workers, folder, env)
            ceiling = raw_signs_side_by_side(key, workers, 1.0 if args.quick else 3.0)
            row(f"batch, {batch_rows} rows, {bits}-bit, {workers} workers", f"{rate:.0f} tokens/s",
                f"{ceiling:.0f} signs/s (raw, {workers} processes)", f"{rate / ceiling:.2f} (budget {BATCH_BUDGET})")
        for bits in (2048, 4096):
            ours, openssl = keygen_times(bits, 2 if args.quick else 5, folder, env)
            row(f"cert create, {bits}-bit key", f"{ours * 1000:.0f} ms",
                f"{openssl * 1000:.0f} ms (openssl genrsa)" if openssl else "(no openssl)",
                f"{ours / openssl:.2f}x" if openssl else "-")
        one = statistics.median(next(c for c in commands if c.name == "create-qscloud").rss)
        _, batch_peak = batch_rate(bench_cli.KEY_2048, memory_rows, workers, folder, env)
        row("peak RSS, one token (4096-bit)", f"{one / 2**20:.1f} MiB", "-", "-")
        shown = f"{batch_peak / 2**20:.1f} MiB" if batch_peak else "(no GNU time)"
        row(f"peak RSS, batch of {memory_rows} rows", shown, f"{one / 2**20:.1f} MiB (one token)",
            f"{batch_peak / one:.2f}x" if batch_peak and one else "-")
    except bench_cli.CommandFailed as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"qs-jwt benchmarks on {_machine()}")
    print(f"{runs} interleaved runs per command; batch on {rows} rows (4096-bit: 1/8 of them); memory on "
          f"{memory_rows} rows\n")
    widths = [max(len(r[i]) for r in [("measurement", "result", "reference", "ratio"), *table]) for i in range(4)]
    for line in [("measurement", "result", "reference", "ratio"), tuple("-" * w for w in widths), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
