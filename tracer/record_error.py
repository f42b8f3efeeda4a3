"""The one error a recording backend raises for a problem the user can fix."""


class RecordError(Exception):
    """A problem the user can fix.

    ``str()`` is a clear one-paragraph message (what happened, why, what to
    do).  The CLI prints it and exits 2.
    """
