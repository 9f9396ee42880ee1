"""``sipflow serve``: answer calls per the state tables until SIGINT or SIGTERM.

Rules:

* Options (CONTRACTS §6, §7): ``--listen`` (repeatable, default
  ``udp:127.0.0.1:5060``; port 0 binds a free port), ``--tables DIR``,
  ``--set NAME=VALUE`` (repeatable), ``--answer-delay SECONDS`` (the same as
  ``--set answer_delay=SECONDS``, applied after the ``--set`` values),
  ``--auth USER:PASSWORD`` (repeatable), ``--realm``, ``--trace FILE.pcap``,
  ``-v``, ``--drain SECONDS`` (default 5), ``--format text|json``,
  ``--backend NAME`` (default sip), ``--recv-buffer BYTES`` (each UDP
  socket's receive buffer, default 4M), ``--overload-lag-ms MS`` (new
  INVITEs get 503 while requests wait longer than this; default 250, 0
  off), and the hidden, test-only
  ``--test-loss PERCENT``.
* ``--registrar`` is refused for now (the registrar comes in a later
  milestone): one line, exit 2.
* Every usage problem — a bad listen address, an unknown parameter, a broken
  table, a port in use — is one line on stderr, ``sipflow serve: …``, exit 2.
* On start the bound addresses are printed, one ``listening on
  udp:127.0.0.1:40123`` line each (so ``--listen udp:127.0.0.1:0`` is usable
  by scripts and tests). On SIGINT/SIGTERM the server drains (see
  ``sipflow.app.serve``) and exits 0.

Theory of operation: this module validates the options into a
``ServeConfig`` and runs ``sipflow.app.serve.serve`` on uvloop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sipflow.app.options import (
    UsageError,
    fraction,
    number,
    parse_auth,
    parse_bytes,
    parse_listens,
    parse_sets,
)
from sipflow.cli.output import fail

DEFAULT_LISTEN = "udp:127.0.0.1:5060"


def register(app: typer.Typer) -> None:
    """Add the ``serve`` verb to the ``sipflow`` program."""
    app.command("serve")(serve_command)


def serve_command(
    listen: Annotated[list[str] | None, typer.Option(
        "--listen", "-l", metavar="TRANSPORT:HOST:PORT",
        help="Where to listen (repeatable): udp:127.0.0.1:5060, tcp:[::1]:5060; port 0 picks "
             "a free port. Default: udp:127.0.0.1:5060.", show_default=False)] = None,
    tables: Annotated[Path | None, typer.Option(
        "--tables", metavar="DIR", help="Folder of state tables (default: the shipped ones).",
        show_default=False)] = None,
    sets: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE", help="Set a table parameter (repeatable).",
        show_default=False)] = None,
    answer_delay: Annotated[str | None, typer.Option(
        "--answer-delay", metavar="SECONDS",
        help="Ring this long before answering (--set answer_delay=SECONDS).",
        show_default=False)] = None,
    auth: Annotated[list[str] | None, typer.Option(
        "--auth", metavar="USER:PASSWORD",
        help="Challenge out-of-dialog requests; accept these credentials (repeatable).",
        show_default=False)] = None,
    realm: Annotated[str | None, typer.Option(
        "--realm", metavar="REALM", help="Digest realm of the challenges (default: sipflow).",
        show_default=False)] = None,
    registrar: Annotated[bool, typer.Option(
        "--registrar", help="Act as a registrar (not available yet).")] = False,
    trace: Annotated[Path | None, typer.Option(
        "--trace", metavar="FILE.pcap", help="Write every SIP message to a pcap file.",
        show_default=False)] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Print every SIP message (slow; for debugging).")] = False,
    drain: Annotated[float, typer.Option(
        "--drain", metavar="SECONDS",
        help="On SIGINT/SIGTERM, wait this long for calls to end.")] = 5.0,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="text, or json (one JSON object per output line).")] = "text",
    backend: Annotated[str, typer.Option(
        "--backend", metavar="NAME", help="The dialog backend (entry point).")] = "sip",
    recv_buffer: Annotated[str, typer.Option(
        "--recv-buffer", metavar="BYTES",
        help="Receive buffer of each UDP socket: 4194304, 4M, 512K (SO_RCVBUFFORCE when "
             "permitted, else capped at net.core.rmem_max; -v shows what was granted).")] = "4M",
    overload_lag_ms: Annotated[float, typer.Option(
        "--overload-lag-ms", metavar="MS",
        help="Overload control: while requests wait longer than this in a UDP receive queue, "
             "new INVITEs get 503 + Retry-After so admitted calls complete; 0 turns it off.")
    ] = 250.0,
    test_loss: Annotated[float, typer.Option(
        "--test-loss", hidden=True, metavar="PERCENT",
        help="Tests only: drop this share of the UDP datagrams sent.")] = 0.0,
) -> None:
    """Answer calls per the state tables until SIGINT or SIGTERM, then drain and exit 0."""
    from sipflow.app.serve import ServeConfig, run_serve

    try:
        if registrar:
            raise UsageError("--registrar is not available yet (the registrar comes in a later "
                             "milestone); plain serve answers REGISTER with 405")
        fmt = fmt.lower()
        if fmt not in ("text", "json"):
            raise UsageError(f"--format {fmt!r}: choose text or json")
        params = parse_sets(sets)
        if answer_delay is not None:
            from sipflow.runtime.params import ParamError, parse_duration

            try:
                parse_duration(answer_delay, "--answer-delay")
            except ParamError as exc:
                raise UsageError(str(exc)) from None
            params["answer_delay"] = answer_delay
        users = parse_auth(auth)
        if realm is not None and not users:
            raise UsageError(f"--realm {realm!r}: needs --auth USER:PASSWORD (nothing is "
                             f"challenged without it)")
        if realm is not None and (not realm or '"' in realm):
            raise UsageError(f"--realm {realm!r}: must be non-empty and without quotes")
        if trace is not None and not trace.parent.resolve().is_dir():
            raise UsageError(f"--trace {trace}: folder {trace.parent} does not exist")
        config = ServeConfig(
            listen=parse_listens(listen, DEFAULT_LISTEN),
            tables=tables,
            params=params,
            auth=users,
            realm=realm,
            trace=trace,
            verbose=verbose,
            drain=number(drain, "--drain"),
            backend=backend,
            json=fmt == "json",
            loss=fraction(test_loss, "--test-loss"),
            recv_buffer=parse_bytes(recv_buffer, "--recv-buffer"),
            overload_lag=number(overload_lag_ms, "--overload-lag-ms") / 1000.0,
        )
        code = run_serve(config)
    except UsageError as exc:
        fail(f"sipflow serve: {exc}")
    raise typer.Exit(code)


