"""What the transaction layer reads from and builds out of SIP messages.

Rules:

- Matching keys (RFC 3261 §17.1.3, §17.2.3, §9.2) are plain tuples, so they
  hash fast and a transaction costs one dict entry per table.
- A server key is ``("3261", branch, host, port, method)`` when the top Via
  branch starts with the magic cookie ``z9hG4bK``; otherwise the RFC 2543
  fallback ``("2543", Request-URI, To tag, From tag, Call-ID, CSeq number,
  method, top Via)``. In both, ACK is keyed with method INVITE, so it finds
  the INVITE it acknowledges; CANCEL keeps its own method (its own
  transaction) and ``cancel_target_key`` gives the INVITE it cancels.
- A client key is ``(branch, CSeq method)``.
- Accessors of malformed or missing headers raise ``RemoteProtocolError``
  (from the message model); nothing here catches it.

Theory of operation: pure functions of messages; no state.
"""

from __future__ import annotations

import sys

from sipflow.sip.message import Request, Response

MAGIC_COOKIE = "z9hG4bK"
"""Branch prefix of RFC 3261 transaction ids (§8.1.1.7)."""

ServerKey = tuple
ClientKey = tuple[str, str]


def status_of(response: Response) -> int:
    """The status code of ``response``."""
    return response.status


def has_magic_cookie(branch: str | None) -> bool:
    """True when ``branch`` is an RFC 3261 transaction id."""
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def client_key(message: Request | Response) -> ClientKey:
    """Client matching key of a request we send or a response we receive (§17.1.3)."""
    return (message._top_branch() or "", message.cseq.method)


def _via_port(via_port: int | None, transport: str) -> int:
    if via_port is not None:
        return via_port
    return 5061 if transport in ("TLS", "WSS") else 5060


_OWN = object()


def server_key(request: Request, method: str | None = None, to_tag: object = _OWN) -> ServerKey:
    """Server matching key of a received request (§17.2.3).

    ``method`` overrides the request's own (ACK and CANCEL look for INVITE);
    ``to_tag`` (a tag or ``None``) replaces the request's To tag in the RFC 2543
    fallback.
    """
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    via = request.top_via
    branch = via.branch
    if has_magic_cookie(branch):
        # One shared host string per peer (a lingering key keeps it: ~60 B each).
        host = sys.intern(via.host.lower())
        return ("3261", branch, host, _via_port(via.port, via.transport), method)
    if to_tag is _OWN:
        to_tag = request.to_tag
    return (
        "2543",
        request.uri,
        to_tag,
        request.from_tag,
        request.call_id,
        request.cseq.seq,
        method,
        str(via),
    )


def build_non2xx_ack(request: Request, response: Response) -> Request:
    """The ACK for a 300–699 answer to INVITE ``request`` (RFC 3261 §17.1.1.3).

    Same Request-URI, Call-ID and From; To from the response (with its tag);
    one Via equal to the INVITE's top Via (same branch); CSeq number of the
    INVITE with method ACK; the INVITE's Route header fields.
    """
    fields: list[tuple[str, str]] = [("Via", str(request.top_via))]
    headers = request.headers
    routes = headers.get_all("route")
    if routes:
        fields.append(("Route", ", ".join(routes)))
    max_forwards = headers.get("max-forwards")
    fields.append(("Max-Forwards", max_forwards if max_forwards is not None else "70"))
    fields.append(("From", headers.get("from") or ""))
    fields.append(("To", response.headers.get("to") or headers.get("to") or ""))
    fields.append(("Call-ID", request.call_id))
    fields.append(("CSeq", f"{request.cseq.seq} ACK"))
    return Request("ACK", request.uri, fields)
