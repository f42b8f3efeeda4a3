#!/usr/bin/env python3
"""The seed workload: concurrent ``uv sync`` into one fresh virtualenv.

This reproduces astral-sh/uv#12751 (``shared/seed/uv-issue-12751.md``) on this
machine, with real uv releases from PyPI.  uv 0.6.11 races with itself when
several ``uv sync`` start at once on a project without ``.venv``; uv fixed it
in 0.7.12 by locking the environment, so a current uv (0.13.9) passes.

Stdlib only: tests and benchmarks ``import`` this module, and it also runs as
a script::

    python bench/seed_workload.py prepare 0.6.11
    python bench/seed_workload.py race 0.6.11 --rounds 5
    python bench/seed_workload.py trace 0.6.11 /tmp/round.log
    python bench/seed_workload.py time 0.6.11 --runs 5 [--strace]

Layout under the root (``$FSRACE_SEED_DIR``, default ``~/.cache/fsrace-seed``),
one directory per uv version::

    uv-0.6.11/tool/      venv holding ``pip install uv==0.6.11``
    uv-0.6.11/cache/     UV_CACHE_DIR, warmed by one ``uv sync``
    uv-0.6.11/proj/      ``uv init`` project with its ``uv.lock``
    uv-0.6.11/runs/      stderr of the last round, one file per process
    uv-0.6.11/seed.json  written last: its presence means "prepared"
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: The release with the bug, and the newest release on the index when this was written.
BROKEN_VERSION = "0.6.11"
CURRENT_VERSION = "0.13.9"
#: What the project depends on: enough wheels with ``*.data`` dirs to race reliably.
DEPENDENCIES = ("jupyterlab_widgets", "notebook", "pandas")
#: The interpreter uv must use (never downloaded).
PYTHON_NAME = "python3.11"

_MARKER = "seed.json"


@dataclasses.dataclass(frozen=True)
class SeedEnv:
    """A prepared uv version and project, ready to sync."""

    version: str
    uv: Path            #: the uv binary
    project: Path       #: the project directory (holds pyproject.toml, uv.lock)
    env: dict           #: environment to run uv with (UV_CACHE_DIR etc.)

    @property
    def base(self) -> Path:
        return self.project.parent

    @property
    def cache_dir(self) -> Path:
        return Path(self.env["UV_CACHE_DIR"])

    @property
    def venv(self) -> Path:
        return self.project / ".venv"

    @property
    def runs_dir(self) -> Path:
        """Where run_concurrent puts each process's stderr."""
        return self.base / "runs"


@dataclasses.dataclass(frozen=True)
class UvRun:
    """One uv process of a group started by :func:`run_group`."""

    index: int
    pid: int
    exit_code: int
    stderr_path: Path

    @property
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""


def default_root() -> Path:
    env = os.environ.get("FSRACE_SEED_DIR")
    return Path(env) if env else Path.home() / ".cache" / "fsrace-seed"


def find_python() -> Path:
    """The real python3.11 executable (resolving pyenv shims and symlinks)."""
    exe = shutil.which(PYTHON_NAME)
    if exe is None:
        raise RuntimeError(f"{PYTHON_NAME} not found on PATH; uv must not download one")
    out = subprocess.run([exe, "-c", "import sys; print(sys.executable)"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def _uv_env(cache_dir: Path, python: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("UV_") and k not in ("VIRTUAL_ENV", "CONDA_PREFIX",
                                                     "PYTHONHOME", "PYTHONPATH")}
    env.update({
        "UV_CACHE_DIR": str(cache_dir),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": str(python),
        "UV_NO_CONFIG": "1",          # ignore any user/system uv.toml
        "UV_NO_PROGRESS": "1",
    })
    return env


def _run(argv, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {shlex.join(map(str, argv))}\n"
                           f"{res.stdout}{res.stderr}")
    return res


def prepare(uv_version: str, root: Path | None = None) -> SeedEnv:
    """Install uv ``uv_version`` and a locked, cache-warm project; cached under ``root``.

    The first call takes a minute or so (pip install, resolution, downloads);
    later calls only read ``seed.json``.
    """
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    # Serialise concurrent callers (e.g. pytest-xdist workers) on one lock per version.
    with open(root / f"uv-{uv_version}.prepare-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare_locked(uv_version, (root / f"uv-{uv_version}").absolute())


def _prepare_locked(uv_version: str, base: Path) -> SeedEnv:
    marker = base / _MARKER
    if marker.is_file():
        data = json.loads(marker.read_text())
        python = Path(data["python"])
        env = SeedEnv(version=uv_version, uv=Path(data["uv"]), project=Path(data["project"]),
                      env=_uv_env(Path(data["cache"]), python))
        if env.uv.exists() and (env.project / "uv.lock").is_file():
            return env
    # (Re)build from scratch: a half-built directory is not trusted.
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    python = find_python()
    tool = base / "tool"
    _run([python, "-m", "venv", tool])
    _run([tool / "bin" / "python", "-m", "pip", "install", "-q", f"uv=={uv_version}"])
    uv = tool / "bin" / "uv"
    got = _run([uv, "--version"]).stdout.split()
    if len(got) < 2 or got[1] != uv_version:
        raise RuntimeError(f"installed uv reports {got!r}, expected {uv_version}")
    cache = base / "cache"
    cache.mkdir()
    env = SeedEnv(version=uv_version, uv=uv, project=base / "proj", env=_uv_env(cache, python))
    _run([uv, "init", "--no-workspace", "proj"], cwd=base, env=env.env)
    _run([uv, "add", *DEPENDENCIES], cwd=env.project, env=env.env)
    # `uv add` already synced once; sync again so the cache is surely warm, then drop .venv.
    _run([uv, "sync", "-q"], cwd=env.project, env=env.env)
    reset(env)
    marker.write_text(json.dumps({"version": uv_version, "uv": str(uv), "project": str(env.project),
                                  "cache": str(cache), "python": str(python)}, indent=1) + "\n")
    return env


def reset(env: SeedEnv) -> None:
    """What each round's setup does: ``rm -rf project/.venv``."""
    shutil.rmtree(env.venv, ignore_errors=True)
    if env.venv.exists():                       # a leftover that rmtree could not remove
        subprocess.run(["rm", "-rf", str(env.venv)], check=True)


def clear_cache(env: SeedEnv) -> None:
    """Delete the uv cache (for a cold-cache run); the lock file stays."""
    shutil.rmtree(env.cache_dir, ignore_errors=True)
    env.cache_dir.mkdir(parents=True, exist_ok=True)


def sync_argv(env: SeedEnv) -> list[str]:
    return [str(env.uv), "sync", "-q"]


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_concurrent(env: SeedEnv, n: int = 10, argv_prefix=(), *, out_dir: Path | None = None,
                   timeout: float = 600) -> list[int]:
    """Start ``n`` ``uv sync -q`` at once in the project; return their exit codes.

    Each command is ``argv_prefix + [uv, sync, -q]`` (a per-process tracer can go in
    the prefix).  Each one's stderr goes to ``out_dir/uv-<i>.stderr`` (default
    ``env.runs_dir``, emptied first).  Does not reset ``.venv``: call :func:`reset`.
    """
    out = _fresh_dir(Path(out_dir) if out_dir else env.runs_dir)
    argv = [str(a) for a in argv_prefix] + sync_argv(env)
    procs, files = [], []
    try:
        for i in range(1, n + 1):
            f = open(out / f"uv-{i}.stderr", "wb")
            files.append(f)
            procs.append(subprocess.Popen(argv, cwd=env.project, env=env.env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=f))
        deadline = time.monotonic() + timeout
        return [p.wait(timeout=max(0.1, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in files:
            f.close()


def group_script(env: SeedEnv, n: int, out_dir: Path) -> str:
    """A ``sh`` script that starts ``n`` ``uv sync -q`` at once and waits for all.

    Writes ``out_dir/uv-<i>.stderr`` and one line ``<i> <pid> <exit code>`` per
    process to ``out_dir/status``.
    """
    uv = shlex.quote(str(env.uv))
    out = shlex.quote(str(out_dir))
    lines = [f"{uv} sync -q </dev/null >/dev/null 2>{out}/uv-{i}.stderr & p{i}=$!"
             for i in range(1, n + 1)]
    lines += [f'wait $p{i}; echo "{i} $p{i} $?" >>{out}/status' for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def strace_argv(log: Path, expression: str | None = None) -> list[str]:
    """The raw strace prefix used for the seed logs (fsrace's trace expression)."""
    if expression is None:
        repo = str(Path(__file__).resolve().parent.parent)
        if repo not in sys.path:
            sys.path.insert(0, repo)
        from fsrace.tracer.syscalls import strace_trace_expression
        expression = strace_trace_expression()
    return ["strace", "-f", "-ttt", "-T", "-s", "4096", "--seccomp-bpf", "-e", expression,
            "-o", str(log), "--"]


def run_group(env: SeedEnv, n: int = 10, wrapper=(), *, out_dir: Path | None = None,
              timeout: float = 900) -> list[UvRun]:
    """Start ``n`` ``uv sync -q`` at once from one ``sh -c``, run under ``wrapper``.

    ``wrapper`` wraps the whole group, e.g. ``strace_argv(log)``, so one tracer
    sees all processes.  Returns one :class:`UvRun` per uv process (pid included).
    """
    out = _fresh_dir(Path(out_dir) if out_dir else env.runs_dir)
    argv = [str(a) for a in wrapper] + ["sh", "-c", group_script(env, n, out)]
    subprocess.run(argv, cwd=env.project, env=env.env, stdin=subprocess.DEVNULL,
                   timeout=timeout, check=False)
    runs = []
    status = out / "status"
    if status.is_file():
        for line in status.read_text().split("\n"):
            if line.strip():
                i, pid, rc = line.split()
                runs.append(UvRun(int(i), int(pid), int(rc), out / f"uv-{i}.stderr"))
    if len(runs) != n:
        raise RuntimeError(f"group script reported {len(runs)} of {n} processes ({status})")
    return runs


def first_error(text: str) -> str:
    """The uv error message of a failed run, as one line (``error: … Caused by: …``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[:3])


def time_single(env: SeedEnv, runs: int = 5, wrapper=()) -> list[float]:
    """Wall time of ``runs`` single ``uv sync -q`` into a fresh ``.venv`` (optionally wrapped)."""
    times = []
    for _ in range(runs):
        reset(env)
        t0 = time.perf_counter()
        subprocess.run([str(a) for a in wrapper] + sync_argv(env), cwd=env.project, env=env.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------- command line

def _cmd_prepare(a) -> int:
    t0 = time.perf_counter()
    env = prepare(a.version, a.root)
    print(f"uv {env.version}: {env.uv}\nproject: {env.project}\ncache: {env.cache_dir}"
          f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_reset(a) -> int:
    reset(prepare(a.version, a.root))
    return 0


def _cmd_race(a) -> int:
    env = prepare(a.version, a.root)
    per_round = []
    for r in range(1, a.rounds + 1):
        reset(env)
        t0 = time.perf_counter()
        codes = run_concurrent(env, a.n)
        dt = time.perf_counter() - t0
        fails = sum(c != 0 for c in codes)
        per_round.append(fails)
        print(f"round {r}: exit codes {codes}  failures {fails}/{a.n}  ({dt:.1f} s)", flush=True)
        if a.verbose:
            for i, c in enumerate(codes, 1):
                if c:
                    print(f"  uv-{i}: {first_error((env.runs_dir / f'uv-{i}.stderr').read_text())}")
    print(f"uv {a.version}: failures per round {per_round}; total {sum(per_round)}/{a.rounds * a.n}; "
          f"rounds with a failure {sum(f > 0 for f in per_round)}/{a.rounds}")
    return 0


def trace_round(log: Path, version: str = BROKEN_VERSION, n: int = 10) -> list["UvRun"]:
    """Record one round (``n`` concurrent syncs of a fresh ``.venv``) under one ``strace -f`` into ``log``.

    Each process's stderr goes to ``LOG.stderr/``.  The benchmarks' default input.
    """
    env = prepare(version)
    reset(env)
    return run_group(env, n, strace_argv(log), out_dir=Path(str(log) + ".stderr"))


def _cmd_trace(a) -> int:
    env = prepare(a.version, a.root)
    log = Path(a.log).absolute()
    if a.cold:
        clear_cache(env)
    reset(env)
    t0 = time.perf_counter()
    runs = run_group(env, a.n, strace_argv(log), out_dir=Path(str(log) + ".stderr"))
    dt = time.perf_counter() - t0
    fails = [r for r in runs if r.exit_code]
    print(f"{log}: {dt:.1f} s, failures {len(fails)}/{a.n}")
    for r in runs:
        print(f"  uv-{r.index} pid {r.pid} exit {r.exit_code}"
              + (f": {first_error(r.stderr)}" if r.exit_code else ""))
    return 0


def _cmd_time(a) -> int:
    env = prepare(a.version, a.root)
    wrapper = strace_argv(Path(a.log)) if a.strace else ()
    ts = time_single(env, a.runs, wrapper)
    print(f"{'strace' if a.strace else 'untraced'}: " + " ".join(f"{t:.2f}" for t in ts)
          + f"  median {statistics.median(ts):.2f} s")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=None,
                   help="where prepared versions live (default $FSRACE_SEED_DIR or ~/.cache/fsrace-seed)")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("prepare", help="install uv VERSION and a locked, cache-warm project")
    s.add_argument("version")
    s.set_defaults(fn=_cmd_prepare)
    s = sub.add_parser("reset", help="rm -rf the project's .venv")
    s.add_argument("version")
    s.set_defaults(fn=_cmd_reset)
    s = sub.add_parser("race", help="rounds of N concurrent `uv sync -q` into a fresh .venv")
    s.add_argument("version")
    s.add_argument("--rounds", type=int, default=10)
    s.add_argument("-n", type=int, default=10)
    s.add_argument("-v", "--verbose", action="store_true", help="print failures' first error")
    s.set_defaults(fn=_cmd_race)
    s = sub.add_parser("trace", help="one round under `strace -f` (whole group), log to LOG")
    s.add_argument("version")
    s.add_argument("log")
    s.add_argument("-n", type=int, default=10)
    s.add_argument("--cold", action="store_true", help="delete the uv cache first")
    s.set_defaults(fn=_cmd_trace)
    s = sub.add_parser("time", help="time single `uv sync -q` runs into a fresh .venv")
    s.add_argument("version")
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--strace", action="store_true", help="under the raw strace command")
    s.add_argument("--log", default="/tmp/fsrace-seed-time.log", help="strace log (with --strace)")
    s.set_defaults(fn=_cmd_time)
    a = p.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
