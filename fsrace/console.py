"""Terminal helpers every command shares: the two consoles, the one error type
users see, and a progress bar by bytes.

The lowest module of the command layer: the CLI, the gallery and stress
import it; it imports nothing of fsrace but the safe-text helper.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from fsrace.reports.safe_text import printable

EXIT_USAGE = 2

#: The global options ``--color auto|always|never`` and ``-q`` set these.
#: "auto" leaves it to rich: colour on a terminal, none under NO_COLOR,
#: forced by FORCE_COLOR.  ``quiet`` hides progress and summaries on
#: stderr (never an error message).
SETTINGS: dict[str, Any] = {"color": "auto", "quiet": False}


def color_options() -> dict[str, Any]:
    """Console keyword arguments for the ``--color`` setting."""
    mode = SETTINGS["color"]
    if mode == "always":
        return {"force_terminal": True, "no_color": False}
    if mode == "never":
        return {"no_color": True, "color_system": None}
    return {}


def err_console() -> Console:
    """Console for progress and messages (stderr); plain when not a terminal."""
    return Console(stderr=True, highlight=False, quiet=bool(SETTINGS["quiet"]), **color_options())


def _closed_pipe() -> None:
    """stdout's reader went away (``fsrace analyze LOG | head``): stop with status 0.

    rich's own handler exits 1, which reads as "findings" to a script.
    stdout is pointed at /dev/null so that the last flush cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    raise SystemExit(0)


def out_console(file: Any = None) -> Console:
    """Console for reports (stdout or a file); wide when not a terminal."""
    console = Console(file=file, highlight=False, soft_wrap=False, **color_options())
    console.on_broken_pipe = _closed_pipe  # type: ignore[method-assign]
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 140
    return console


class UserError(click.ClickException):
    """An error the user can fix: printed as one message, exit status 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:  # noqa: D102 - click API
        console = Console(stderr=True, highlight=False, **color_options())  # even under -q
        console.print(Text("fsrace: ", style="bold red") + Text(printable(self.message)))


@contextlib.contextmanager
def byte_progress(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar by bytes (only on a terminal); yields its ``on_progress(done, total)``."""
    with Progress(TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield on_progress
