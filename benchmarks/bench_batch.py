#!/usr/bin/env python3
"""Measure bulk minting (``qs-jwt batch``): tokens per second against raw RSA signatures, and peak memory.

Run from anywhere, with the interpreter whose qs-jwt should be measured::

    python benchmarks/bench_batch.py                       # small defaults: 75 s on 2 cores
    python benchmarks/bench_batch.py --rows 100000 --memory-rows 1000000   # the full-size figures
    python benchmarks/bench_batch.py --check               # exit 1 when a budget is missed

For a 2048-bit and a 4096-bit key (tests/keys), it writes a CSV of ``--rows`` users (``--rows-4096`` for the
larger key, default a fifth) and measures, with ``--workers`` signing processes (default: the CPUs this process
may use):

- batch: the library pipeline of the command, in this process: read the CSV, sign in the worker processes
  (started and warmed up beforehand), write JSON Lines to a file; tokens per second;
- raw: ``cryptography`` RSA signatures (PKCS#1 v1.5, SHA-256, over a token-sized input) in a pool of as many
  processes, each signing flat out; signatures per second, the ceiling of any minter;
- the command line end to end (``python -m qs_jwt batch qscloud ...``, start-up and key loading included).

Batch and raw alternate: the input is cut into segments of ``--rounds`` chunks per worker (about half a
second), and each segment is followed by a raw slice that lasts as long, after a first raw slice of a second.
The ratio is the median, over the segments, of a segment's rate to the mean of the two raw slices beside it (the
quartiles show the spread), so that a slow spell of the machine (a shared VM's neighbours) lands on both sides
of each pair. The budget: a median ratio of at least 0.85. The batch/s and raw/s columns are the plain totals.

Memory: the command line on ``--memory-rows`` rows (and on a tenth as many, to show that it stays flat), with
the peak RSS of the largest process (``getrusage(RUSAGE_CHILDREN)`` of a wrapper process, so that the figure is
that run's alone) and of all of its processes together (sampled from /proc every 50 ms, on Linux).

Exit codes: 0 done (budgets only reported), 1 a budget was missed and ``--check`` was given, 2 a run failed.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import itertools
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

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "tests" / "keys"
KEY_FILES = {2048: KEYS / "rsa2048_pkcs8.pem", 4096: KEYS / "rsa4096_pkcs8.pem"}

#: batch must reach at least this share of raw RSA signatures per second (same key, processes and run)
RATIO_BUDGET = 0.85

if str(ROOT / "src") not in sys.path:
    try:
        import qs_jwt  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))


# --- raw signatures, in processes of their own -------------------------------------------------------------

_RAW_KEY = None


def _raw_init(path: str) -> None:
    import signal

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    global _RAW_KEY
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _RAW_KEY = load_pem_private_key(Path(path).read_bytes(), password=None)


def _raw_ready() -> int:
    return os.getpid()


def _raw_slice(seconds: float, data: bytes) -> tuple[int, float, int]:
    """Sign ``data`` flat out for ``seconds``; (signatures, seconds spent, pid)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _RAW_KEY
    assert key is not None
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    count = 0
    start = time.perf_counter()
    end = start + seconds
    now = start
    while now < end:
        key.sign(data, pkcs1, sha256)
        count += 1
        now = time.perf_counter()
    return count, now - start, os.getpid()


class RawPool:
    """``workers`` processes that sign side by side, each with the key loaded once."""

    def __init__(self, key_path: Path, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_raw_init, initargs=(str(key_path),))
        pids: set[int] = set()
        while len(pids) < workers:  # every process started and holding its key
            pids |= {f.result() for f in [self.pool.submit(_raw_ready) for _ in range(workers)]}
            if len(pids) < workers:
                time.sleep(0.05)

    def rate(self, seconds: float, data: bytes) -> float:
        """Signatures per second of all processes together, for one slice of ``seconds``."""
        futures = [self.pool.submit(_raw_slice, seconds, data) for _ in range(self.workers)]
        results = [f.result() for f in futures]
        if len({pid for _, _, pid in results}) < self.workers:  # a process took two tasks: not side by side
            return self.rate(seconds, data)
        return sum(count / spent for count, spent, _ in results)

    def close(self) -> None:
        self.pool.shutdown()


# --- batch -------------------------------------------------------------------------------------------------


def write_users(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sub", "username", "useremail", "useremail_verified", "groups"])
        for i in range(rows):
            writer.writerow([f"user-{i:07d}", f"User {i}", f"user{i}@example.com", "true", "Sales;Team A"])


def measure(bits: int, rows: int, workers: int, rounds_per_slice: int, folder: Path) -> dict[str, float]:
    """Batch and raw rates for one key, alternating: raw, batch, raw, batch, ..., raw.

    A batch segment is ``rounds_per_slice`` chunks per worker (ending a segment costs a little: the last chunks
    do not end together), and the raw slice after it lasts as long.
    """
    import qs_jwt
    from qs_jwt.batch import BatchMinter, read_rows, write_results

    key_path = KEY_FILES[bits]
    users = folder / f"users-{bits}.csv"
    write_users(users, rows)
    settings = qs_jwt.QsCloudSettings(issuer="my-app", keyid="my-key", expires="5m")
    factory = qs_jwt.QsCloudTokenFactory(key_path.read_bytes(), settings)
    sample = factory.create(qs_jwt.QsCloudUser(sub="user-0000001", name="User 1", email="user1@example.com",
                                               email_verified=True, groups=["Sales", "Team A"]))
    data = sample.token.rsplit(".", 1)[0].encode("ascii")  # what a batch token's signature covers
    raw_pool = RawPool(key_path, workers)
    minter = BatchMinter(factory, workers=workers)
    segment = minter.chunk_size * workers * rounds_per_slice
    try:
        minter.start(wait=True)
        raw_rates: list[float] = []
        batch_rates: list[float] = []
        batch_time = 0.0
        done = 0
        raw_rates.append(raw_pool.rate(1.0, data))
        with open(users, "rb") as source, open(folder / f"tokens-{bits}.jsonl", "wb") as out:
            reader = read_rows(source, "csv", settings)
            while done < rows:
                start = time.perf_counter()
                summary = write_results(minter.mint(itertools.islice(reader, segment)), out, "jsonl")
                spent = time.perf_counter() - start
                if summary.rows == 0:
                    break
                if summary.errors:
                    raise RuntimeError(f"batch: {summary}")
                batch_time += spent
                done += summary.rows
                batch_rates.append(summary.rows / spent)
                raw_rates.append(raw_pool.rate(max(spent, 0.25), data))
    finally:
        minter.close()
        raw_pool.close()
    # each segment against the raw slices on either side of it: a slow spell of the machine lands on both
    ratios = sorted(rate / ((raw_rates[i] + raw_rates[i + 1]) / 2) for i, rate in enumerate(batch_rates))
    return {"rows": done, "batch": done / batch_time, "raw": sum(raw_rates) / len(raw_rates),
            "raw_min": min(raw_rates), "raw_max": max(raw_rates), "chunk": minter.chunk_size,
            "segments": len(batch_rates), "ratio": statistics.median(ratios), "ratio_low": ratios[len(ratios) // 4],
            "ratio_high": ratios[(3 * len(ratios)) // 4]}


def _child_env() -> dict[str, str]:
    """The command line's environment: this qs_jwt first on the path, no key or passphrase from the shell, and
    the package byte-compiled (as pip install does: with PYTHONDONTWRITEBYTECODE set, every process, each worker
    included, would compile the sources again, and the start-up figure would measure the compiler)."""
    import compileall

    import qs_jwt

    package = Path(qs_jwt.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QS_JWT_")}
    src = str(package.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def cli_argv(bits: int, users: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "qs_jwt", "batch", "qscloud", "--input", str(users), "--output", str(out),
            "--cert-privatekey-file", str(KEY_FILES[bits]), "--issuer", "my-app", "--keyid", "my-key",
            "--workers", str(workers), "--no-progress", "--loglevel", "warn"]


#: runs a command and prints the peak RSS (KiB) of its largest process: getrusage(RUSAGE_CHILDREN) of a process
#: that has no other child, so that the figure is this run's alone
_MAXRSS = ("import resource, subprocess, sys\n"
           "code = subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n"
           "kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
           "print(kib // 1024 if sys.platform == 'darwin' else kib)\n"
           "sys.exit(code)\n")


def cli_run(argv: list[str], env: dict[str, str]) -> tuple[float, int, int | None]:
    """Wall seconds, peak RSS of the largest process (KiB) and of all of them together (KiB, sampled from /proc;
    None elsewhere) of one command-line run."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _MAXRSS, *argv], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak: list[int | None] = [None]
    sampler = threading.Thread(target=_sample_tree, args=(proc, peak), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:5])} exited with {proc.returncode}: {err.decode(errors='replace')}")
    return wall, int(out.split()[-1]), peak[0]


def _sample_tree(proc: subprocess.Popen[bytes], peak: list[int | None]) -> None:
    if not os.path.isdir("/proc"):
        return
    best = 0
    while proc.poll() is None:
        best = max(best, _tree_rss_kib(proc.pid))
        time.sleep(0.05)
    peak[0] = best


def _tree_rss_kib(root: int) -> int:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                parents[int(name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        grew = bool(more)
        tree |= more
    total = 0
    for pid in tree - {root}:  # below the wrapper: the command and its workers
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total


# --- report ------------------------------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from qs_jwt.batch import default_workers

    try:
        from importlib.metadata import version

        crypto = f"cryptography {version('cryptography')}"
    except Exception:
        crypto = "cryptography ?"
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return (f"{model}, {os.cpu_count()} CPUs ({default_workers()} usable by this process){memory}; "
            f"{platform.system()} {platform.machine()}; Python {platform.python_version()}, {crypto}")


def main(argv: list[str] | None = None) -> int:
    from qs_jwt.batch import default_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for the 2048-bit key (default 10000)")
    parser.add_argument("--rows-4096", type=int, default=None, help="rows for the 4096-bit key (default rows / 5)")
    parser.add_argument("--memory-rows", type=int, default=50_000,
                        help="rows of the command-line memory run, 2048-bit key (default 50000; 0 skips it)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="signing processes, for batch and raw alike (default: the usable CPUs)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="chunks per worker in each batch segment between raw slices (default 2)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    args = parser.parse_args(argv)
    if min(args.rows, args.workers, args.rounds) < 1 or args.memory_rows < 0:
        parser.error("--rows, --workers and --rounds must be at least 1")
    rows_4096 = args.rows_4096 or max(1, args.rows // 5)
    print(f"qs-jwt batch benchmark: {machine()}")
    print(f"{args.workers} signing process(es) for batch and for raw; budget: batch >= {RATIO_BUDGET:g} x raw\n")
    folder = Path(tempfile.mkdtemp(prefix="qs-jwt-bench-batch-"))
    env = _child_env()
    missed: list[str] = []
    try:
        print(f"{'key':<9} {'rows':>7} {'chunk':>5} {'segments':>8} {'batch/s':>8} {'raw/s':>7} "
              f"{'(raw min-max)':>13}  {'ratio: median (quartiles)':>25} {'CLI s':>6} {'CLI/s':>6} {'start-up s':>10}")
        for bits, rows in ((2048, args.rows), (4096, rows_4096)):
            result = measure(bits, rows, args.workers, args.rounds, folder)
            ratio = result["ratio"]
            out = folder / f"cli-{bits}.jsonl"
            wall, _, _ = cli_run(cli_argv(bits, folder / f"users-{bits}.csv", out, args.workers), env)
            out.unlink()
            startup = max(0.0, wall - result["rows"] / result["batch"])
            ok = ratio >= RATIO_BUDGET
            if not ok:
                missed.append(f"{bits}-bit ratio {ratio:.2f}")
            spread = f"({result['raw_min']:.0f}-{result['raw_max']:.0f})"
            quartiles = f"{ratio:.2f} ({result['ratio_low']:.2f}-{result['ratio_high']:.2f})"
            print(f"{f'{bits}-bit':<9} {int(result['rows']):>7} {int(result['chunk']):>5} {int(result['segments']):>8} "
                  f"{result['batch']:8.0f} {result['raw']:7.0f} {spread:>13}  {quartiles:>25} {wall:6.1f} "
                  f"{result['rows'] / wall:6.0f} {startup:10.2f}  {'PASS' if ok else 'UNDER'}")
        if args.memory_rows:
            print(f"\npeak RSS of the command line (2048-bit key, {args.workers} worker(s); MiB)")
            print(f"  {'rows':>9} {'seconds':>8} {'largest process':>16} {'all processes':>14}")
            small = max(1, args.memory_rows // 10)
            users = folder / "users-memory.csv"
            for rows in (small, args.memory_rows):
                write_users(users, rows)
                out = folder / "tokens-memory.jsonl"
                wall, largest, tree = cli_run(cli_argv(2048, users, out, args.workers), env)
                out.unlink()
                shown = f"{tree / 1024:14.1f}" if tree else f"{'n/a':>14}"
                print(f"  {rows:>9} {wall:8.1f} {largest / 1024:16.1f} {shown}")
    except RuntimeError as exc:
        print(f"bench_batch: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if missed and args.check:
        print(f"\nunder budget: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
