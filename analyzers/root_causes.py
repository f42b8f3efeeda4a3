"""Root causes: the layer above race sites that a person fixes.

A run of ten copies of one installer gives hundreds of findings (one per
race kind × syscall pair × path pattern), yet one bug.  A root cause is

* one shared **resource**: the directory subtree where the conflicting
  operations meet, its entry name generalised over the items it holds
  (``.venv/lib/python3.11/site-packages/*.data`` for every package's
  ``<pkg>-<version>.data`` staging directory);
* one group of **programs**: the same executable and subcommand (copies of
  one command are one group: ``uv sync -q``);
* one missing **order**: nothing (no common lock, no wait) put the two
  sides' operations one after the other.

Findings are grouped by (resource pattern, programs); a group whose
resource lies inside another group's of the same programs and the same
family of race (removal, creation/writing) joins it, so the files deep in a
removed tree belong to the tree's root cause.  Each root cause gets a plain
statement, the failed processes it explains, one interleaving as evidence,
and the general fix for its shape of race.

The data contract (renderers and the JSON report build on it):

``RootCause`` fields
    ``id``            ``"R1"``, ``"R2"`` … ranked: failed processes
                      explained, then severity, then manifested findings;
    ``resource``      the resource for display: the real parent directory
                      when all instances share it, then the generalised
                      entry (``…/site-packages/*.data``);
    ``pattern``       the same, fully normalised like site patterns;
    ``programs``      the group labels (``["uv sync -q"]``); two labels when
                      two different programs race;
    ``copies``        how many processes of those programs ran;
    ``kinds``         race kinds, most conflicts first;
    ``severity``      the highest severity of its findings;
    ``statement``     one sentence in plain words;
    ``missing_order`` what did not order the operations;
    ``fix``           the general fix for that shape of race;
    ``explains``      process indexes of the failed processes it explains
                      (the JSON report gives pids);
    ``finding_ids``   its findings (``F1`` …), ``sites`` their site patterns;
    ``evidence``      the finding id of one interleaving (a manifested one,
                      the one that broke the first explained process, first);
    ``example``       that interleaving's conflict (culprit, victim);
    ``count``         conflicting pairs in all its findings;
    ``manifested``    how many of its findings manifested.

Pure: a function of the History and the findings.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterable

from .accesses import (A_OP, A_PATH, A_PROC, A_SYSCALL, CREATE, READ, CHECK, REMOVE,
                       RENAME_FROM, RENAME_TO, WRITE)
from .conflict import Conflict
from .history import History
from .sites import SEVERITY_RANK, Finding, normalize_path

#: Kinds that share a fix: a tree removed while others still work in it.
_FAMILY = {
    "removed-while-in-use": "removal",
    "filled-while-removing": "removal",
    # Creating the same entries and writing the same files at once share a
    # fix (create atomically, write privately and rename, or lock).
    "create-collision": "create",
    "check-then-use": "create",
    "concurrent-write": "create",
    # A failure decided from state another copy had just made: no shape of
    # its own; it joins the race of the same copies in the same directory.
    "saw-foreign-state": "foreign",
}

#: The fix advice of each kind (by the shape of its race).
_FIX_OF = {
    "removed-while-in-use": "removal",
    "filled-while-removing": "removal",
    "create-collision": "create",
    "check-then-use": "check",
    "concurrent-write": "write",
    "lost-output": "lost",
    "saw-foreign-state": "foreign",
    "lock-contention": "lock",
}

#: Interpreters whose first argument is the program that matters.
_INTERPRETERS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|sh|bash|dash|zsh|node|perl|ruby|"
                           r"ld-linux.*\.so.*)$")
_WORD = re.compile(r"^[a-z][a-z0-9_-]*$")

FIXES = {
    "foreign": "hold one exclusive lock across the whole operation on {resource}, from the "
               "first look at it to the last change, so that no copy decides from state "
               "another is still changing",
    "removal": "hold one exclusive lock (flock on a lock file beside {parent}) across the whole "
               "operation: creating, filling and removing each {leaf}; or give each process a "
               "private temporary directory (mkdtemp) and rename the result into place atomically",
    "create": "create with O_CREAT|O_EXCL (or mkdir, link, rename with RENAME_NOREPLACE) and "
              "treat EEXIST as 'another process did it'; or hold one exclusive lock across the "
              "whole operation on {resource}",
    "check": "do not act on a stat/access answer: try the operation itself and handle its "
             "error (O_CREAT|O_EXCL, rename atomically); or hold one exclusive lock across the "
             "check and the use",
    "lock": "wait for the lock instead of giving up (a blocking flock, or retry the O_EXCL "
            "create of {leaf} with a back-off until its holder removes it); or run the "
            "copies one after another",
    "lost": "never remove entries another process created: give each process a private "
            "output location, or hold one exclusive lock across creating outputs under "
            "{resource} and any clean-up that removes them",
    "write": "write whole records with O_APPEND, or write a private temporary file and rename "
             "it into place atomically; or hold one exclusive lock around each update of "
             "{resource}",
}


@dataclass
class RootCause:
    """One shared resource, one group of programs, one missing order."""

    id: str
    resource: str
    pattern: str
    programs: list[str]
    kinds: list[str]
    severity: str
    statement: str = ""
    missing_order: str = ""
    fix: str = ""
    copies: int = 0
    explains: list[int] = field(default_factory=list)
    finding_ids: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    evidence: str = ""
    example: Conflict | None = None
    count: int = 0
    manifested: int = 0

    @property
    def site_ids(self) -> list[str]:
        """The sites of its findings (sites have no ids of their own: their patterns)."""
        return self.sites


# ------------------------------------------------------------ programs

def program_of(argv: list[str] | None) -> tuple[str, str]:
    """(group key, label) of a command line: executable and subcommand.

    ``/x/bin/uv sync -q`` → key ``uv sync``, label ``uv sync -q``;
    ``python3 /x/installer.py /t --files 40`` → ``installer.py``, label
    ``installer.py t --files 40`` (paths shortened to their last name).
    """
    if not argv:
        return "?", "?"
    args = list(argv)
    exe = posixpath.basename(args[0]) or args[0]
    rest = args[1:]
    if _INTERPRETERS.match(exe):
        while rest and rest[0].startswith("-") and rest[0] not in ("-c", "-m"):
            rest = rest[1:]
        if rest and rest[0] == "-m" and len(rest) > 1:
            exe, rest = rest[1], rest[2:]
        elif rest and not rest[0].startswith("-"):
            exe, rest = posixpath.basename(rest[0]) or rest[0], rest[1:]
    sub = next((r for r in rest if not r.startswith("-")), "")
    key = exe + (" " + sub if _WORD.match(sub or "-") else "")
    shown = [posixpath.basename(r.rstrip("/")) or r if "/" in r else r for r in rest]
    label = " ".join([exe, *shown])
    if len(label) > 48:
        label = label[:47] + "…"
    return key, label


def _groups(h: History) -> tuple[list[str], dict[str, str], dict[str, int]]:
    """Per process its group key; per key a label; per key how many copies ran.

    A copy is a process of the group whose parent is not of the group
    (its own forks and threads are the same copy).
    """
    keys: list[str] = []
    labels: dict[str, set[str]] = {}
    for p in h.processes:
        key, label = program_of(p.argv)
        keys.append(key)
        labels.setdefault(key, set()).add(label)
    copies: dict[str, int] = {}
    for p in h.processes:
        k = keys[p.idx]
        if p.parent is None or keys[p.parent] != k:
            copies[k] = copies.get(k, 0) + 1
    shown = {k: (next(iter(v)) if len(v) == 1 else k) for k, v in labels.items()}
    return keys, shown, copies


# ------------------------------------------------------------ resources

def _generalise(name: str) -> str:
    """A normalised entry name over the items it stands for: ``ipython-*.data`` → ``*.data``."""
    if "*" not in name:
        return name
    suffix = name[name.rindex("*") + 1:]
    return "*" + suffix if suffix else name


def resource_of(site_path: str) -> tuple[str, str, str]:
    """(pattern, parent, leaf) of a conflict's site path.

    The leaf is the contested entry (the root of a removed tree, the file
    two processes create) generalised; the parent is the real directory
    holding it.
    """
    parent, name = posixpath.split(site_path.rstrip("/") or "/")
    leaf = _generalise(normalize_path(name)) if name else "/"
    pattern = posixpath.join(normalize_path(parent), leaf)
    return pattern, parent, leaf


def _inside(inner: str, outer: str) -> bool:
    """True when pattern ``inner`` is ``outer`` or lies under it (``*`` matches a name)."""
    a, b = inner.strip("/").split("/"), outer.strip("/").split("/")
    if len(a) < len(b):
        return False
    return all(x == y or fnmatch.fnmatchcase(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------ grouping

@dataclass
class _Group:
    pattern: str
    parents: set[str]
    leaf: str
    names: set[str]
    progs: tuple[str, ...]
    findings: dict[str, Finding] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    #: Conflicts per joined (inner) resource pattern, the group's own included.
    inner: dict[str, int] = field(default_factory=dict)
    #: Site paths of joined saw-foreign-state groups beside the resource.
    foreign: list[str] = field(default_factory=list)

    def families(self) -> set[str]:
        return {_FAMILY.get(c.kind, c.kind) for c in self.conflicts}


def _group_conflicts(h: History, findings: Iterable[Finding], keys: list[str]) -> list[_Group]:
    groups: dict[tuple, _Group] = {}
    for f in findings:
        for c in f.conflicts:
            pattern, parent, leaf = resource_of(c.site_path)
            progs = tuple(sorted({keys[c.culprit[A_PROC]], keys[c.victim[A_PROC]]}))
            # One family per group: a removal race and a create collision on
            # the same entry have different fixes, and each joins its own kind.
            gkey = (pattern, progs, _FAMILY.get(c.kind, c.kind))
            g = groups.get(gkey)
            if g is None:
                g = groups[gkey] = _Group(pattern, set(), leaf, set(), progs)
            g.parents.add(parent)
            g.names.add(posixpath.basename(c.site_path.rstrip("/")))
            g.findings.setdefault(f.id, f)
            g.conflicts.append(c)
    # Join a group into the shallowest group of the same programs and race
    # family whose resource holds it.
    ordered = sorted(groups.values(), key=lambda g: (g.pattern.count("/"), g.pattern))
    kept: list[_Group] = []
    for g in ordered:
        host = next((k for k in kept if k.progs == g.progs and k.families() & g.families()
                     and _inside(g.pattern, k.pattern)), None)
        if host is None and g.families() == {"foreign"}:
            # The same copies failed on state beside another race of theirs
            # (in the directory that holds its resource): the same missing
            # order.  The nearest such race takes it.
            near = [k for k in kept if k.progs == g.progs and k.families() != {"foreign"}
                    and _inside(g.pattern, posixpath.dirname(k.pattern))]
            if near:
                host = max(near, key=lambda k: k.pattern.count("/"))
                host.foreign.extend(sorted({c.site_path for c in g.conflicts}))
        if host is None:
            kept.append(g)
            continue
        host.findings.update(g.findings)
        host.conflicts.extend(g.conflicts)
        host.inner[g.pattern] = host.inner.get(g.pattern, 0) + len(g.conflicts)
    for k in kept:
        k.inner[k.pattern] = k.inner.get(k.pattern, 0) + sum(
            1 for c in k.conflicts if resource_of(c.site_path)[0] == k.pattern)
    return kept


# ------------------------------------------------------------ words

def common_root(paths: Iterable[str]) -> str:
    """The deepest directory holding every path ('' when that is only '/')."""
    dirs = [posixpath.dirname(p.rstrip("/")) for p in paths if p and p.startswith("/")]
    if not dirs:
        return ""
    root = posixpath.commonpath(dirs)
    return "" if root in ("/", "") else root


def display_base(dirs: list[str], cwd: str | None = None) -> str:
    """The directory paths are shown relative to: the recorded cwd when it
    holds them all, else their common root one level up (so that the
    directory where the race is keeps its name)."""
    dirs = [d for d in dirs if d and d.startswith("/")]
    if not dirs:
        return ""
    if cwd and cwd != "/" and all(d.startswith(cwd.rstrip("/") + "/") for d in dirs):
        return cwd.rstrip("/")
    root = posixpath.commonpath(dirs)
    if len(set(dirs)) == 1:
        root = posixpath.dirname(root)
    return "" if root in ("/", "") else root


def shorten(path: str, base: str = "", keep: int = 3) -> str:
    """``path`` relative to ``base`` and shortened in the middle: ``a/b/…/y/z``."""
    if base and path == base:
        return posixpath.basename(base)
    if base and path.startswith(base.rstrip("/") + "/"):
        path = path[len(base.rstrip("/")) + 1:]
    parts = path.split("/")
    lead = 2 if path.startswith("/") else 1
    if len(parts) > keep + lead + 1:
        parts = parts[:lead + 1] + ["…"] + parts[-(keep - 1):]
    return "/".join(parts)


def _noun(g: _Group) -> str:
    deeper = any(c.victim[A_PATH] != c.site_path or c.culprit[A_PATH] != c.site_path
                 for c in g.conflicts)
    return "directories" if deeper or g.leaf.endswith((".data", ".d")) else "files"


def _use_verb(acc: tuple, site: str) -> str:
    """What the other side still did with the resource, in words."""
    op, path = acc[A_OP], acc[A_PATH]
    inside = path != site
    if op == RENAME_FROM:
        return "move files out of them" if inside else "rename them"
    if op == RENAME_TO:
        return "move files into them" if inside else "rename onto them"
    if op == CREATE:
        return "create files in them" if inside else "create them"
    if op == WRITE:
        return "write files in them" if inside else "write them"
    if op == REMOVE:
        return "remove files in them" if inside else "remove them"
    if op in (READ, CHECK):
        return "read them" if acc[A_SYSCALL] != "getdents64" else "list them"
    return "use them"


def _uses(g: _Group) -> str:
    """The (at most two) commonest things the other side still did, most first.

    In a removal race the user is the victim of removed-while-in-use and
    the culprit (the filler) of filled-while-removing.
    """
    counts: dict[str, int] = {}
    for c in g.conflicts:
        if c.kind == "removed-while-in-use":
            verb = _use_verb(c.victim, c.site_path)
        elif c.kind == "filled-while-removing":
            verb = _use_verb(c.culprit, c.site_path)
        else:
            continue
        counts[verb] = counts.get(verb, 0) + 1 + (1000 if c.manifested else 0)
    verbs = sorted(counts, key=lambda v: -counts[v])[:2]
    words = " and ".join(verbs) or "use them"
    if len(g.names) == 1:  # one entry: "it", not "them"
        words = words.replace("them", "it")
    return words


def _remove_verb(acc: tuple) -> str:
    return "rename away" if acc[A_OP] == RENAME_FROM else "remove"


def _statement(g: _Group, c: Conflict, n: int, labels: dict[str, str], keys: list[str],
               base: str, missing: str) -> str:
    prog_a = labels[keys[c.culprit[A_PROC]]]
    prog_b = labels[keys[c.victim[A_PROC]]]
    if len(g.names) == 1 and posixpath.join(_parent(g), _leaf(g)) == base:
        where = f"`{_leaf(g)}`"
    elif len(g.names) == 1:
        where = f"`{_leaf(g)}` under {shorten(_parent(g), base)}"
    else:
        where = f"`{g.leaf}` {_noun(g)} under {shorten(_parent(g), base)}"
    same = len(g.progs) == 1
    who = f"{n} concurrent `{prog_a}`" if same else f"`{prog_a}`"
    others = "other copies" if same else f"`{prog_b}`"
    if c.kind == "filled-while-removing":
        # The victim is the remover; the culprit filled the tree under it.
        remover = f"{n} concurrent `{prog_b}`" if same else f"`{prog_b}`"
        others = "other copies" if same else f"`{prog_a}`"
        return (f"{remover} {_remove_verb(c.victim)} {where} while {others} still "
                f"{_uses(g)}; {missing}")
    if c.kind == "removed-while-in-use":
        return (f"{who} {_remove_verb(c.culprit)} {where} while {others} still "
                f"{_uses(g)}; {missing}")
    both = who if same else f"{who} and {others}"
    if c.kind == "create-collision":
        return (f"{both} create the same entries in {where}{_most_in(g, base)} at once; "
                f"{missing}")
    if c.kind == "check-then-use":
        return (f"{who} check {where} and act on the answer while {others} change them; "
                f"{missing}")
    if c.kind == "saw-foreign-state":
        return (f"{'copies of ' if same else ''}`{prog_b}` failed after reading {where}, "
                f"which {others if not same else 'another copy'} had just changed; {missing}")
    if c.kind == "lock-contention":
        # The culprit held the lock; the victim was refused it and gave up.
        loser = f"{n} concurrent `{prog_b}`" if same else f"`{prog_b}`"
        holder = "another copy" if same else f"`{prog_a}`"
        return (f"{loser} gave up on the lock {where} while {holder} held it; "
                f"nothing made the loser wait for the holder")
    if c.kind == "lost-output":
        # The victim created the entries; the culprit removed them.
        remover = f"copies of `{prog_a}`" if same else f"`{prog_a}`"
        creator = "another copy" if same else f"`{prog_b}`"
        return (f"{remover} removed entries in {where} that {creator} had created, and they "
                f"were missing at the end; {missing}")
    if c.kind == "concurrent-write":
        return f"{both} write the same files in {where}{_most_in(g, base)} at once; {missing}"
    return f"{both} race on {where}; {missing}"


def _resource_dir(g: _Group) -> str:
    """The resource as a real directory: itself, or its parent when its name is a pattern."""
    return posixpath.join(_parent(g), _leaf(g)) if len(g.names) == 1 else _parent(g)


def _leaf(g: _Group) -> str:
    """The entry's real name when there is one, else its generalised pattern."""
    return next(iter(g.names)) if len(g.names) == 1 else g.leaf


def _most_in(g: _Group, base: str) -> str:
    """`` (most in X)`` when most conflicts lie in a resource joined under this one."""
    if not g.inner:
        return ""
    top = max(g.inner, key=lambda k: g.inner[k])
    if top == g.pattern:
        return ""
    example = next((c.site_path for c in g.conflicts if resource_of(c.site_path)[0] == top), top)
    return f" (most in {shorten(example, base)})"


def _parent(g: _Group) -> str:
    if len(g.parents) == 1:
        return next(iter(g.parents))
    return posixpath.dirname(g.pattern)


def _missing(h: History, g: _Group, header: dict) -> tuple[str, str]:
    """(short, long) words for what did not order the operations."""
    if any(c.judged_by == "time" for c in g.conflicts):
        backend = header.get("backend") or "this"
        return ("their operations interleaved",
                f"the {backend} log cannot show locks or waits; the operations interleaved "
                "in time")
    if not h.lock_paths:
        return ("no lock orders them",
                "no common lock (no process took any lock) and no wait between them")
    return ("no lock orders them", "no lock common to both sides and no wait between them")


def _fix(g: _Group, c: Conflict, base: str) -> str:
    family = _FIX_OF.get(c.kind, "create")
    resource = shorten(posixpath.join(_parent(g), _leaf(g)), base)
    return FIXES[family].format(parent=shorten(_parent(g), base), leaf=f"`{_leaf(g)}`",
                                resource=resource)


# ------------------------------------------------------------ the pass

def root_causes(h: History, findings: list[Finding], explanations: dict[int, list[str]],
                first_errors: dict[int, tuple | None], header: dict | None = None,
                skip: Iterable[int] = ()) -> list[RootCause]:
    """Group the error and warning findings into ranked root causes.

    ``explanations``/``first_errors`` are the analysis's per failed process
    findings and fatal victim access; ``skip`` the process indexes never
    counted as failed (fsrace's own launcher).
    """
    keys, labels, copies = _groups(h)
    wanted = [f for f in findings if f.severity in ("error", "warning")]
    groups = _group_conflicts(h, wanted, keys)
    by_conflict: dict[int, int] = {}
    for gi, g in enumerate(groups):
        for c in g.conflicts:
            by_conflict[id(c)] = gi
    by_id = {f.id: f for f in findings}
    skip = set(skip)
    explained: dict[int, list[int]] = {}
    evidence_of: dict[int, tuple[Finding, Conflict]] = {}
    for idx, ids in sorted(explanations.items(), key=lambda kv: h.processes[kv[0]].first_seq):
        if idx in skip or not ids:
            continue
        gi = None
        victim = first_errors.get(idx)
        if victim is not None and victim[A_PROC] != idx and victim[A_PROC] in explanations:
            continue  # a parent that failed because its failed child did: counted once, there
        for fid in ids:
            f = by_id.get(fid)
            if f is None:
                continue
            for c in f.conflicts:
                if victim is not None and c.victim is victim and id(c) in by_conflict:
                    gi = by_conflict[id(c)]
                    evidence_of.setdefault(gi, (f, c))
                    break
            if gi is not None:
                break
        if gi is None:  # the fatal access's finding was info: take its first error/warning
            family = h.descendants_or_self(idx)
            for fid in ids:
                f = by_id.get(fid)
                for c in (f.conflicts if f else ()):
                    if c.victim[A_PROC] in family and id(c) in by_conflict:
                        gi = by_conflict[id(c)]
                        evidence_of.setdefault(gi, (f, c))
                        break
                if gi is not None:
                    break
        if gi is not None:
            explained.setdefault(gi, []).append(idx)

    base = display_base([_resource_dir(g) for g in groups], (header or {}).get("cwd"))
    out: list[RootCause] = []
    for gi, g in enumerate(groups):
        fs = sorted(g.findings.values(), key=lambda f: int(f.id[1:]) if f.id[1:].isdigit() else 0)
        severity = max((f.severity for f in fs), key=lambda s: SEVERITY_RANK[s])
        if gi in evidence_of:
            ev_f, ev_c = evidence_of[gi]
        else:
            ev_f = min(fs, key=lambda f: (f.verdict != "manifested", -SEVERITY_RANK[f.severity],
                                          -f.count))
            ev_c = ev_f.example
        kinds: dict[str, int] = {}
        for c in g.conflicts:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        short, long = _missing(h, g, header or {})
        n = sum(copies.get(k, 0) for k in g.progs)
        rc = RootCause(
            id="", resource=posixpath.join(_parent(g), _leaf(g)), pattern=g.pattern,
            programs=[labels[k] for k in g.progs],
            kinds=sorted(kinds, key=lambda k: -kinds[k]), severity=severity,
            missing_order=long, copies=n, explains=explained.get(gi, []),
            finding_ids=[f.id for f in fs], sites=sorted({f.site for f in fs}),
            evidence=ev_f.id, example=ev_c, count=len(g.conflicts),
            manifested=sum(1 for f in fs if f.verdict == "manifested"))
        if ev_c is not None:
            rc.statement = _statement(g, ev_c, n, labels, keys, base, short)
            if g.foreign and ev_c.kind != "saw-foreign-state":
                names = sorted({shorten(p, base) for p in g.foreign})
                also = (f"; copies also failed on state another had just made next to them "
                        f"({', '.join(names[:2])}{', …' if len(names) > 2 else ''})")
                tail = "; " + short
                if rc.statement.endswith(tail):
                    rc.statement = rc.statement[:-len(tail)] + also + tail
                else:
                    rc.statement += also
            rc.fix = _fix(g, ev_c, base)
        out.append(rc)
    out.sort(key=lambda r: (-len(r.explains), -SEVERITY_RANK[r.severity], -r.manifested,
                            -r.count, r.pattern))
    for i, rc in enumerate(out, 1):
        rc.id = f"R{i}"
    return out


def launcher_indexes(h: History, trailer: dict | None) -> set[int]:
    """fsrace's own launcher: the root process whose pid the trailer names.

    It exits non-zero when a copy does; it is never a failed process.
    """
    pid = (trailer or {}).get("launcher_pid")
    if pid is None:
        return set()
    return {p.idx for p in h.processes if p.pid == pid and p.parent is None}


__all__ = ["RootCause", "root_causes", "program_of", "resource_of", "launcher_indexes",
           "shorten", "common_root", "display_base", "FIXES"]
