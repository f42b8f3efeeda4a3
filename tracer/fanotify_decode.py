"""Decoding fanotify reads, and handles into paths.

``decode`` turns the bytes of one ``read`` into event tuples at fixed
offsets; ``Namespace`` turns directory handles into paths lazily (derived
from the events that created or renamed a directory, else resolved while it
still exists), and ``Counters`` keeps what the trailer accounts for.  See
``tracer/fanotify_backend.py`` for the whole design.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fsrace.tracer.fanotify_kernel import (
    FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR, FAN_Q_OVERFLOW,
    FAN_RENAME, FanotifyGroup, INFO_DFID, INFO_DFID_NAME, INFO_FID, INFO_NEW_DFID_NAME,
    INFO_OLD_DFID_NAME, INFO_HEADER, EVENT_META, U32)


# ---------------------------------------------------------------- decoding

# A decoded kernel event: (mask, pid, dir handle, name, object handle,
# new dir handle, new name).  Handles are bytes: fsid + struct file_handle.


def decode(buf: bytes, out: list, counters: "Counters", skip_pid: int) -> None:
    """Append the events of one read to ``out`` (see the tuple layout above)."""
    unpack_meta = EVENT_META.unpack_from
    unpack_hdr = INFO_HEADER.unpack_from
    unpack_u32 = U32.unpack_from
    append = out.append
    off, end = 0, len(buf)
    while off + 24 <= end:
        elen, vers, _r, mlen, mask, _fd, pid = unpack_meta(buf, off)
        if elen < 24:
            counters.unparsed += 1
            break
        nxt = off + elen
        if mask & FAN_Q_OVERFLOW:
            counters.overflows += 1
            off = nxt
            continue
        counters.raw += 1
        if pid == skip_pid:
            counters.own += 1
            off = nxt
            continue
        dkey = name = okey = dkey2 = name2 = None
        p = off + mlen
        while p < nxt:
            itype, _pad, ilen = unpack_hdr(buf, p)
            if ilen == 0:
                break
            hb = unpack_u32(buf, p + 12)[0]
            hend = p + 20 + hb
            if itype == INFO_FID:
                okey = buf[p + 4:hend]
            elif itype == INFO_DFID_NAME or itype == INFO_OLD_DFID_NAME:
                dkey = buf[p + 4:hend]
                name = buf[hend:buf.index(b"\0", hend, p + ilen)]
            elif itype == INFO_NEW_DFID_NAME:
                dkey2 = buf[p + 4:hend]
                name2 = buf[hend:buf.index(b"\0", hend, p + ilen)]
            elif itype == INFO_DFID:
                dkey = buf[p + 4:hend]
                name = b"."
            p += ilen
        if dkey is None:
            counters.unparsed += 1
            if len(counters.samples) < 10:
                counters.samples.append({"mask": hex(mask), "pid": pid})
        else:
            append((mask, pid, dkey, name, okey, dkey2, name2))
        off = nxt


@dataclass
class Counters:
    raw: int = 0              # kernel events read (after overflow markers)
    own: int = 0              # events of fsrace itself, dropped
    overflows: int = 0        # FAN_Q_OVERFLOW markers
    unparsed: int = 0         # events without a usable info record
    samples: list = field(default_factory=list)
    merged: int = 0           # log events split off a merged kernel event
    other: int = 0            # events of processes outside CMD's tree
    unresolved: int = 0       # paths we could not resolve
    paths: int = 0            # path fields written
    resolved_by_handle: int = 0
    unpaired_moves: int = 0


# ---------------------------------------------------------------- resolving


class Namespace:
    """Directory handles -> paths, following creations and renames in order."""

    def __init__(self, group: FanotifyGroup | None):
        self.group = group
        self.parent: dict[bytes, tuple[bytes, bytes]] = {}   # handle -> (dir handle, name)
        self.fixed: dict[bytes, str | None] = {}             # resolved by open_by_handle_at
        self._cache: dict[bytes, str | None] = {}
        self.created: set[bytes] = set()                     # handles known from events

    # Called when a batch is read, before it is processed (in read order).
    def note_batch(self, events: list) -> None:
        """Learn new directory handles now, while the directories exist."""
        created, fixed, parent = self.created, self.fixed, self.parent
        for ev in events:
            mask, _pid, dkey, name, okey, dkey2, _n2 = ev
            if dkey not in created and dkey not in fixed:
                self._fix(dkey)
            if dkey2 is not None and dkey2 not in created and dkey2 not in fixed:
                self._fix(dkey2)
            if okey is not None and mask & FAN_ONDIR:
                if mask & (FAN_CREATE | FAN_RENAME | FAN_MOVED_TO):
                    created.add(okey)
                elif mask & FAN_DELETE and okey not in created and okey not in fixed \
                        and okey not in parent:
                    # A directory that existed before and is gone now: its own
                    # deletion says where it was.
                    parent[okey] = (dkey, name)
                    created.add(okey)

    def _fix(self, key: bytes) -> str | None:
        path = self.fixed[key] = self.group.resolve_handle(key) if self.group else None
        return path

    def prescan(self, events: list) -> None:
        """Deferred mode: where was each directory moved or deleted later, at the start?

        With target fids every creation, rename and deletion of a directory
        names the directory's own handle.  A directory whose first such
        event is a rename or a deletion existed before the recording: its
        first location is the old parent and name of that event.  Every
        other handle is resolved when first needed (``path``), and since
        nothing moved it, its current path is the one it had all along.
        """
        seen = self.created
        parent = self.parent
        for mask, _pid, dkey, name, okey, _d2, _n2 in events:
            if okey is None or not mask & FAN_ONDIR or okey in seen:
                continue
            if mask & FAN_CREATE:
                seen.add(okey)
            elif mask & (FAN_RENAME | FAN_DELETE | FAN_MOVED_FROM):
                seen.add(okey)
                parent[okey] = (dkey, name)

    def bind(self, okey: bytes, dkey: bytes, name: bytes) -> None:
        """Directory ``okey`` is now ``name`` in directory ``dkey``."""
        old = self.parent.get(okey)
        self.parent[okey] = (dkey, name)
        if old is not None and old != (dkey, name):
            self._cache.clear()        # a directory moved: its subtree's paths changed
        else:
            self._cache.pop(okey, None)

    def path(self, key: bytes) -> str | None:
        cached = self._cache.get(key, False)
        if cached is not False:
            return cached
        seen = 0
        chain = []
        k = key
        base: str | None = None
        while True:
            hit = self._cache.get(k, False)
            if hit is not False:
                base = hit
                break
            link = self.parent.get(k)
            if link is None:
                base = self.fixed[k] if k in self.fixed else self._fix(k)
                break
            chain.append((k, link[1]))
            k = link[0]
            seen += 1
            if seen > 4096:            # a cycle: never loop forever
                base = None
                break
        for k2, nm in reversed(chain):
            if base is not None:
                base = (base.rstrip("/") + "/" + os.fsdecode(nm)) if base != "/" \
                    else "/" + os.fsdecode(nm)
            self._cache[k2] = base
        self._cache[key] = base
        return base


# ----------------------------------------------------------- the converter

