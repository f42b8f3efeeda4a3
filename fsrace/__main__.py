"""``python -m fsrace``: the same command line as the ``fsrace`` script."""

from fsrace.cli import main

main()
