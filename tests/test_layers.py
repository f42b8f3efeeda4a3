"""The installed namespace and its layers.

* Only ``fsrace`` is installed: a wheel built from the repository holds the
  top-level name ``fsrace`` and its ``.dist-info``, nothing else, and
  ``python -m fsrace`` runs the command line.
* The layers import only downwards (tracer → analyzers → reports → the
  command line) and no module imports itself back through a circle.  The
  check reads the import statements with ``ast``; anyone can run it:
  ``python3 -m pytest -q tests/test_layers.py``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, index_reachable

#: Where each installed package's source lives in the repository.
PACKAGE_DIRS = {
    "fsrace.tracer": ROOT / "tracer",
    "fsrace.analyzers": ROOT / "analyzers",
    "fsrace.fixtures": ROOT / "fixtures",
    "fsrace": ROOT / "fsrace",
}

#: Layer rank of each module prefix (longest prefix wins); a module may
#: import modules of its own rank or lower.
LAYERS = [
    ("fsrace._core", 0),
    ("fsrace.tracer", 1),
    ("fsrace.analyzers", 2),
    ("fsrace.reports", 3),
    ("fsrace.console", 4),
    ("fsrace.pipeline", 5),
    ("fsrace.gallery", 6),
    ("fsrace.stress", 6),
    ("fsrace.cli", 7),
    ("fsrace.__main__", 8),
    ("fsrace", 8),
]

#: The example programs are run as separate processes: they may use the
#: tracer's helpers (record_testdata does) but nothing above it.
FIXTURES_RANK = 1


def rank(module: str) -> int:
    if module.startswith("fsrace.fixtures"):
        return FIXTURES_RANK
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def modules() -> dict[str, Path]:
    """Installed module name → source file, for every module of the package."""
    out: dict[str, Path] = {}
    for prefix, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([prefix, *parts])
            if prefix == "fsrace" and parts and parts[0] in ("tracer", "analyzers", "fixtures"):
                continue
            out.setdefault(name, path)
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """The fsrace modules ``name`` imports (absolute and relative, any depth)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m == "fsrace" or m.startswith("fsrace.")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges = {}
    for name, path in mods.items():
        targets = set()
        for m in imports_of(name, path):
            # "from pkg import name" names a module or an attribute: keep modules.
            while m not in mods and "." in m:
                m = m.rpartition(".")[0]
            if m in mods and m != name and m != "fsrace":
                targets.add(m)
        edges[name] = targets
    return edges


def test_every_module_imports_only_its_layer_or_below() -> None:
    upward = [f"{a} (layer {rank(a)}) imports {b} (layer {rank(b)})"
              for a, targets in graph().items() for b in sorted(targets) if rank(b) > rank(a)]
    assert upward == []


def test_no_import_circles() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The analysis above must be able to fail: a tracer module importing a report is caught.
    fake = tmp_path / "x.py"
    fake.write_text("from fsrace.reports.report_text import render_text\nfrom ..analyzers import hb\n")
    found = imports_of("fsrace.tracer.x", fake)
    assert "fsrace.reports.report_text" in found and "fsrace.analyzers.hb" in found
    assert rank("fsrace.reports.report_text") > rank("fsrace.tracer.x")


@pytest.mark.slow
def test_the_wheel_installs_only_fsrace(tmp_path: Path) -> None:
    """Build the wheel as pip would and look inside it; then install it into
    a fresh venv and run ``python -m fsrace``."""
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                        str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = wheels.glob("fsrace-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"fsrace"}, sorted(tops)
    for needed in ("fsrace/tracer/strace_import.py", "fsrace/analyzers/detectors/__init__.py",
                   "fsrace/reports/report_html.py", "fsrace/fixtures/gallery/lockfile.py",
                   "fsrace/fixtures/installer.py", "fsrace/__main__.py"):
        assert needed in names, needed
    assert any(n.startswith("fsrace/_core") and n.endswith(".so") for n in names), \
        "the compiled core is missing from the wheel"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = {p.name for p in Path(site).iterdir()}
    assert "fsrace" in installed
    assert not installed & {"tracer", "analyzers", "fixtures"}, sorted(installed)
    # Run outside the repository so that nothing is found through the cwd.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(py), "-m", "fsrace", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "record" in r.stdout, r.stderr
    r = subprocess.run([str(py), "-c", "import fsrace.tracer, fsrace._core; "
                        "print(fsrace.tracer.__file__)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(site)
    # `fixtures` (the testing library on the index) is not shadowed by fsrace.
    if index_reachable():
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "fixtures"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        r = subprocess.run([str(py), "-c", "import fixtures; print(fixtures.__file__); "
                            "print(hasattr(fixtures, 'Fixture'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        where, real = r.stdout.split()
        assert where.startswith(site) and "fsrace" not in where and real == "True"
