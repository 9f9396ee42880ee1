"""The sipflow applications behind ``sipflow serve`` and ``sipflow call``.

Rules:

* This package holds the long-running parts of the command line; the typer
  verbs in ``sipflow.cli.serve`` and ``sipflow.cli.call`` only parse options
  and hand a validated configuration to the modules here.
* ``options`` turns command-line text into values (``--set``, ``--auth``,
  ``--listen``) and raises ``UsageError`` with one sentence for bad input.
* ``stats`` counts calls and computes setup-time percentiles; ``progress``
  shows them (a rich bar on a terminal, plain lines otherwise).
* ``logging`` writes one line per call (and message traces with ``-v``).
* ``serve`` is the answering user agent (runtime + backend + signals + drain),
  with ``overload`` (when requests are late, new INVITEs get 503) and its
  cheap stateless path ``shed``; ``load`` is the call generator (rate,
  concurrency, duration, timeout) and ``linger`` keeps ``sipflow call`` up
  after its last call while a peer may still retransmit to it.
* ``setup`` loads the tables and finds the backend (every failure one
  ``UsageError`` line); ``output`` buffers log lines; ``loss`` is the
  test-only ``--test-loss`` (drop a share of the UDP datagrams sent).

Theory of operation: both applications build one ``sipflow.runtime.Runtime``
over the shipped (or given) tables and one ``DialogBackend`` found by name in
the ``sipflow.backends`` entry points, on one ``AsyncioClock`` running on
uvloop when it is available.
"""
