"""Loading an event log (or a raw strace log, imported on the fly)."""
from __future__ import annotations


class LoadError(Exception):
    """The input cannot be analysed; the message says why."""
