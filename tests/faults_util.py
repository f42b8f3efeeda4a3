"""Helpers for the fault-injection tests (tests/test_faults.py): run fsrace,
read what it left on disk, a small tmpfs for a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

FSRACE = [sys.executable, "-m", "fsrace.cli"]


def run(*args: str, **kw: Any) -> subprocess.CompletedProcess:
    """Run fsrace to the end; text output captured."""
    return subprocess.run([*FSRACE, *args], capture_output=True, text=True, timeout=600, **kw)


def start(*args: str, **kw: Any) -> subprocess.Popen:
    """Start fsrace; stderr captured."""
    return subprocess.Popen([*FSRACE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def read_log(path: Path) -> tuple[dict, list[dict], dict | None]:
    """(header, events, trailer or None) of an event log on disk."""
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    trailer = lines[-1] if lines and lines[-1].get("format") == "fsrace-events-trailer" else None
    return lines[0], lines[1:-1] if trailer else lines[1:], trailer


def hidden_leftovers(folder: Path) -> list[str]:
    """Partial or probe files fsrace may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(".") and ("partial" in p.name or "fsrace" in p.name))


def workdirs_of(pid: int) -> list[str]:
    """fsrace record's temporary folders for the fsrace process ``pid``."""
    import tempfile

    base = tempfile.gettempdir()
    return [n for n in os.listdir(base) if n.startswith(f"fsrace-rec-{pid}-")]


def wait_until(pred, timeout: float = 60.0, step: float = 0.01) -> bool:
    """Poll ``pred`` until true (True) or ``timeout`` seconds (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def recording_strace(fsrace: subprocess.Popen, timeout: float = 60.0) -> psutil.Process:
    """The strace process an fsrace record runs (not its `strace -V`)."""
    found: list[psutil.Process] = []

    def look() -> bool:
        try:
            for k in psutil.Process(fsrace.pid).children():
                if k.name() == "strace" and "-o" in k.cmdline():
                    found.append(k)
                    return True
        except psutil.Error:
            pass
        return False

    if not wait_until(look, timeout):
        pytest.fail("fsrace record never started strace")
    return found[0]


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (zombies do not count)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "512k", options: str = "") -> Iterator[Path]:
    """A freshly mounted tmpfs of ``size`` at ``where`` (skips if mount is denied)."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * max(0, free - leave))
