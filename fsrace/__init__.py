"""fsrace: find the file-system races between concurrent processes.

The one installed namespace, in layers that import only downwards:

``fsrace._core``      the compiled core (Rust): strace parsing and import
``fsrace.tracer``     recording backends and the event log  (repo: ``tracer/``)
``fsrace.analyzers``  pure analysis of an event log         (repo: ``analyzers/``)
``fsrace.reports``    one renderer per report format
``fsrace.console``, ``fsrace.pipeline``, ``fsrace.gallery``, ``fsrace.stress``,
``fsrace.cli``        the command line
``fsrace.fixtures``   example racy programs (gallery, demo)  (repo: ``fixtures/``)

See docs/architecture.md.
"""
