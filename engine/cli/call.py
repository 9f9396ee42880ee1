"""``sipflow call URI``: place calls per the ``uac_call`` table and report how they went.

Rules:

* Options: ``--count N`` (default 1), ``--rate R`` calls per second (default:
  as fast as ``--concurrency`` allows), ``--concurrency L`` (most calls at once,
  default 100), ``--duration SECONDS`` (hold each established call, then BYE;
  default 0), ``--listen`` (default ``udp:127.0.0.1:0``), ``--set NAME=VALUE``,
  ``--auth USER:PASSWORD`` (credentials for 401/407), ``--tables DIR``,
  ``--format text|json``, ``--timeout SECONDS`` (bound on the whole run;
  default: long enough for the calls at the rate plus 64*T1), ``--recv-buffer
  BYTES`` (each UDP socket's receive buffer, default 4M), ``-v``.
* URI is a SIP URI (``sip:bob@127.0.0.1:5080``, ``sip:[::1]:5080;transport=tcp``);
  anything else is a usage error.
* Text output: progress on stderr (a rich bar on a terminal, plain lines
  otherwise), then on stdout one line per failure reason and the final line
  ``N passed, M failed; setup p50 …, p95 …, p99 …`` (INVITE sent → 200).
  JSON output: one object (``sipflow.app.stats.CallStats.as_dict``) on stdout.
* SIGINT or SIGTERM ends the run early: calls in progress are hung up
  (CANCEL or BYE) and counted as failed (``interrupted``), the rest as ``not
  started (interrupted)``; the report is printed as usual.
* After the last call the process lingers while a peer may still
  retransmit to it (see ``sipflow.app.linger``); ``-v`` prints one line
  saying how long and why it stopped.
* Exit 0 only when every call passed, 1 otherwise, 2 for usage errors (one line
  on stderr, ``sipflow call: …``).

Theory of operation: this module validates the options into a ``LoadConfig``
and runs ``sipflow.app.load.run_calls`` on uvloop.
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

DEFAULT_LISTEN = "udp:127.0.0.1:0"
FORMATS = ("text", "json")


def register(app: typer.Typer) -> None:
    """Add the ``call`` verb to the ``sipflow`` program."""
    app.command("call")(call_command)


def call_command(
    uri: Annotated[str, typer.Argument(
        metavar="URI", help="Whom to call: sip:bob@127.0.0.1:5080 (;transport=tcp for TCP).")],
    count: Annotated[int, typer.Option("--count", "-n", metavar="N",
                                       help="Calls to place.")] = 1,
    rate: Annotated[float | None, typer.Option(
        "--rate", "-r", metavar="R", help="New calls per second (default: no limit).",
        show_default=False)] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", "-c", metavar="L", help="Most calls in progress at once.")] = 100,
    duration: Annotated[float, typer.Option(
        "--duration", "-d", metavar="SECONDS",
        help="Hold each established call this long, then hang up.")] = 0.0,
    listen: Annotated[list[str] | None, typer.Option(
        "--listen", "-l", metavar="TRANSPORT:HOST:PORT",
        help="Local address (repeatable). Default: udp:127.0.0.1:0.", show_default=False)] = None,
    sets: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE", help="Set a table parameter (repeatable).",
        show_default=False)] = None,
    auth: Annotated[list[str] | None, typer.Option(
        "--auth", metavar="USER:PASSWORD", help="Credentials for 401/407 challenges.",
        show_default=False)] = None,
    tables: Annotated[Path | None, typer.Option(
        "--tables", metavar="DIR", help="Folder holding uac_call.yaml (default: shipped).",
        show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                     help="text or json.")] = "text",
    timeout: Annotated[float | None, typer.Option(
        "--timeout", metavar="SECONDS", help="Bound on the whole run (default: from the "
        "count, rate and duration).", show_default=False)] = None,
    backend: Annotated[str, typer.Option(
        "--backend", metavar="NAME", help="The dialog backend (entry point).")] = "sip",
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Status lines on stderr: the receive buffer, the linger.")] = False,
    recv_buffer: Annotated[str, typer.Option(
        "--recv-buffer", metavar="BYTES",
        help="Receive buffer of each UDP socket: 4194304, 4M, 512K (SO_RCVBUFFORCE when "
             "permitted, else capped at net.core.rmem_max; -v shows what was granted).")] = "4M",
    test_loss: Annotated[float, typer.Option(
        "--test-loss", hidden=True, metavar="PERCENT",
        help="Tests only: drop this share of the UDP datagrams sent.")] = 0.0,
) -> None:
    """Place calls per the uac_call table; print N passed, M failed and setup-time percentiles.

    After the last call, sipflow call stays up while a peer may still retransmit to it (our ACK to a 486, or our 200 to its BYE, may have been lost): until no such transaction is left, or nothing has arrived for as long as such a peer waits between retransmissions (2 s at first, up to 5 s = T2 + 1 s), or 32 s at most. A run where every call was answered 2xx and our BYE got its 200 holds none and exits at once. Ctrl-C ends the wait.
    """
    from sipflow.app.load import LoadConfig, run_calls

    try:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r}: choose text or json")
        target = check_uri(uri)
        users = parse_auth(auth)
        if len(users) > 1:
            raise UsageError("--auth: give one USER:PASSWORD (the calls use one identity)")
        config = LoadConfig(
            uri=target,
            count=int(number(count, "--count", minimum=1, integer=True)),
            rate=None if rate is None else number(rate, "--rate", minimum=0, inclusive=False),
            concurrency=int(number(concurrency, "--concurrency", minimum=1, integer=True)),
            duration=number(duration, "--duration"),
            listen=parse_listens(listen, DEFAULT_LISTEN),
            params=parse_sets(sets),
            auth=next(iter(users.items()), None),
            tables=tables,
            timeout=None if timeout is None else number(timeout, "--timeout", minimum=0,
                                                        inclusive=False),
            json=fmt == "json",
            backend=backend,
            loss=fraction(test_loss, "--test-loss"),
            recv_buffer=parse_bytes(recv_buffer, "--recv-buffer"),
            verbose=verbose,
        )
        code = run_calls(config)
    except UsageError as exc:
        fail(f"sipflow call: {exc}")
    raise typer.Exit(code)


def check_uri(text: str) -> str:
    """``text`` when it parses as a SIP URI; ``UsageError`` naming it otherwise."""
    from sipflow.sip.errors import RemoteProtocolError
    from sipflow.sip.uri import SipUri

    try:
        uri = SipUri.parse(text.strip())
    except (RemoteProtocolError, ValueError) as exc:
        raise UsageError(f"URI {text!r}: not a SIP URI ({exc}); e.g. sip:bob@127.0.0.1:5080") \
            from None
    if uri.scheme not in ("sip", "sips"):
        raise UsageError(f"URI {text!r}: only sip: URIs can be called")
    return text.strip()


