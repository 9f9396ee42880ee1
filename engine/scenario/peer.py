"""The scripted peer: a SIP agent that sends exactly what a scenario says.

Rules:

* A peer is attached to the loopback network at one address. It never answers,
  retransmits or acknowledges anything by itself: every message it sends is a
  ``send`` step. What it receives is recorded (the runner reads the network's
  trace, not this record, for ``expect``).
* It fills in what makes a message valid, from the dialog it tracks with each
  other participant: Via (``branch=z9hG4bK…``, ``rport``), Max-Forwards,
  From/To with tags, Call-ID, CSeq, Contact and Content-Length. A step's
  ``headers`` replace the generated fields of the same name (``null``
  removes one); ``raw`` bypasses all of this.
* Requests: ``INVITE`` with no open dialog to the target starts a new one
  (new Call-ID, From tag, CSeq 1); any other request goes inside the last
  dialog with the target when there is one (even one a BYE closed: BYEs may
  cross), else out of dialog with a fresh Call-ID. ``new_dialog: true``
  starts a new dialog whatever is open. ``ACK`` acknowledges the last
  INVITE: a 2xx gets an ACK of its own (new branch), a failure the
  transaction's ACK (same branch, RFC 3261 §17.1.1.3). ``CANCEL`` copies the
  INVITE's Request-URI, Via branch, Call-ID, From, To and CSeq number (§9.1).
  Sending or receiving BYE, or a failed INVITE, closes the dialog for a new
  INVITE.
* ``PRACK`` carries the ``RAck`` of the last reliable provisional received
  (RFC 3262 §7.2).
* Responses answer the newest request received from the target (of
  ``method``, when given) that has no final response yet (else the newest):
  Via, From, To, Call-ID and CSeq copied, a To tag added (one per dialog)
  above 100, Contact on 1xx/2xx to INVITE, UPDATE, SUBSCRIBE, NOTIFY, REFER.
  Retransmissions received are ignored.
* ``body: sdp`` is a small audio SDP; any other body is sent as written
  (``Content-Type: application/sdp`` unless a header says otherwise).

Theory of operation: one ``PeerDialog`` per target participant holds the
identifiers; building a message is string formatting, then the text is sent
as bytes through the peer's ``LoopbackPort``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.message import Request, Response
from sipflow.sip.parser import REASON_PHRASES, parse_message
from sipflow.sip.types import Address
from sipflow.transport.loopback import LoopbackNetwork

from .model import Participant, Send

CONTACT_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class PeerError(Exception):
    """A ``send`` step the peer cannot carry out (e.g. a response with nothing to answer)."""


def sdp_body(address: Address) -> str:
    """A minimal audio SDP (PCMU) for the peer at ``address``."""
    family = "IP6" if ":" in address.host else "IP4"
    return (f"v=0\r\no=peer 1 1 IN {family} {address.host}\r\ns=-\r\n"
            f"c=IN {family} {address.host}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
            f"a=rtpmap:0 PCMU/8000\r\n")


@dataclass(slots=True)
class PeerDialog:
    """What the peer remembers about its exchange with one participant."""

    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    remote_tag: str | None = None
    remote_target: str | None = None
    cseq: int = 0
    invite: Request | None = None
    """The last INVITE the peer sent in this dialog (for ACK and CANCEL)."""
    invite_branch: str = ""
    invite_final: Response | None = None
    received: list[Request] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)
    """``id()`` of the received requests the peer has sent a final response to."""
    rack: str | None = None
    """``RSeq CSeq-number method`` of the last reliable provisional (what PRACK acknowledges)."""
    confirmed: bool = False
    closed: bool = False


class ScriptedPeer:
    """A scripted SIP agent on the loopback network (see the module rules)."""

    def __init__(self, participant: Participant, network: LoopbackNetwork) -> None:
        self.participant = participant
        self.address = participant.address
        self.port = network.bind(participant.address)
        self.port.on_receive = self._receive
        self.received: list[tuple[Address, Request | Response | None]] = []
        self._dialogs: dict[Address, PeerDialog] = {}
        self._seen: set[tuple[Address, bytes]] = set()
        self._counter = 0

    # -- receiving ---------------------------------------------------------------------
    def _receive(self, data: bytes, source: Address) -> None:
        if (source, data) in self._seen:
            return  # a retransmission: the step that answers it answers the first copy
        self._seen.add((source, data))
        try:
            message = parse_message(data)
        except RemoteProtocolError:
            self.received.append((source, None))
            return
        self.received.append((source, message))
        dialog = self._dialogs.get(source)
        if isinstance(message, Request):
            if dialog is None or dialog.closed or dialog.call_id != message.call_id:
                if message.method == "ACK":
                    return
                dialog = self._incoming_dialog(source, message)
            dialog.received.append(message)
            if message.method == "BYE":
                dialog.closed = True
            return
        if dialog is None or dialog.call_id != _safe(lambda: message.call_id):
            return
        tag = _safe(lambda: message.to_tag)
        if tag and 100 < message.status < 300:
            dialog.remote_tag = str(tag)
            contact = message.headers.get("Contact")
            if contact:
                dialog.remote_target = _uri_of(contact)
        method = _safe(lambda: message.cseq.method)
        rseq = message.headers.get("RSeq")
        if rseq and message.status < 200:
            dialog.rack = f"{rseq.strip()} {_safe(lambda: message.cseq.seq)} {method}"
        if method == "INVITE" and message.status >= 200:
            dialog.invite_final = message
            if message.status < 300:
                dialog.confirmed = True
            elif not dialog.confirmed:
                dialog.closed = True  # the INVITE failed: no dialog (its ACK is still sent)

    def _incoming_dialog(self, source: Address, request: Request) -> PeerDialog:
        """The peer answers a request that opens an exchange (the participant is the UAC)."""
        dialog = PeerDialog(
            call_id=request.call_id,
            local_tag=self._new("tag"),
            local_uri=_uri_of(request.headers.get("To") or self.participant.uri),
            remote_uri=_uri_of(request.headers.get("From") or ""),
            remote_tag=_safe(lambda: request.from_tag),
            remote_target=_uri_of(request.headers.get("Contact") or "") or None,
            cseq=0,
        )
        self._dialogs[source] = dialog
        return dialog

    # -- sending -----------------------------------------------------------------------
    def send(self, step: Send, target: Participant) -> bytes:
        """Build the message ``step`` describes and send it to ``target``; returns its bytes."""
        if step.raw is not None:
            text = step.raw if "\r\n" in step.raw else step.raw.replace("\n", "\r\n")
            data = text.encode("utf-8")
        elif step.status is not None:
            data = self._response(step, target).encode("utf-8")
        else:
            assert step.method is not None
            data = self._request(step, target).encode("utf-8")
        self.port.send(data, target.address)
        return data

    def _new(self, what: str) -> str:
        self._counter += 1
        return f"{self.participant.name}-{what}-{self._counter}"

    def _via(self, branch: str) -> str:
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        return f"SIP/2.0/{self.address.transport.upper()} {host}:{self.address.port};branch={branch};rport"

    def _request(self, step: Send, target: Participant) -> str:
        method = step.method or ""
        dialog = self._dialogs.get(target.address)
        if method == "ACK":
            return self._ack(step, target, dialog)
        if method == "CANCEL":
            return self._cancel(step, dialog)
        if dialog is None or step.new_dialog or (
                method == "INVITE" and (dialog.closed or dialog.remote_tag is None)):
            dialog = PeerDialog(call_id=self._new("call") + "@" + self.address.host,
                                local_tag=self._new("tag"), local_uri=self.participant.uri,
                                remote_uri=target.uri)
            if method in ("INVITE", "SUBSCRIBE", "REFER"):
                self._dialogs[target.address] = dialog
        dialog.cseq += 1
        ruri = dialog.remote_target or dialog.remote_uri
        branch = "z9hG4bK-" + self._new("branch")
        headers = self._dialog_headers(dialog, branch, f"{dialog.cseq} {method}")
        if method in CONTACT_METHODS:
            headers.append(("Contact", f"<{self.participant.uri}>"))
        if method == "PRACK" and dialog.rack:
            headers.append(("RAck", dialog.rack))
        request_text = _assemble(f"{method} {ruri} SIP/2.0", headers, step, self.address)
        if method == "INVITE":
            dialog.invite = parse_message(request_text.encode("utf-8"))  # type: ignore[assignment]
            dialog.invite_branch = branch
            dialog.invite_final = None
        if method == "BYE":
            dialog.closed = True
        return request_text

    def _dialog_headers(self, dialog: PeerDialog, branch: str, cseq: str,
                        to_tag: str | None = None) -> list[tuple[str, str]]:
        remote_tag = dialog.remote_tag if to_tag is None else to_tag
        to = f"<{dialog.remote_uri}>" + (f";tag={remote_tag}" if remote_tag else "")
        return [("Via", self._via(branch)), ("Max-Forwards", "70"),
                ("From", f"<{dialog.local_uri}>;tag={dialog.local_tag}"), ("To", to),
                ("Call-ID", dialog.call_id), ("CSeq", cseq)]

    def _ack(self, step: Send, target: Participant, dialog: PeerDialog | None) -> str:
        if dialog is None or dialog.invite is None:
            raise PeerError(f"{self.participant.name} has sent no INVITE to {target.name} to ACK")
        invite = dialog.invite
        final = dialog.invite_final
        seq = invite.cseq.seq
        if final is not None and final.status >= 300:
            # the INVITE transaction's own ACK: same branch, To as in the response
            headers = self._dialog_headers(dialog, dialog.invite_branch, f"{seq} ACK",
                                           to_tag=_safe(lambda: final.to_tag) or "")
            return _assemble(f"ACK {invite.uri} SIP/2.0", headers, step, self.address)
        ruri = dialog.remote_target or dialog.remote_uri
        headers = self._dialog_headers(dialog, "z9hG4bK-" + self._new("branch"), f"{seq} ACK")
        return _assemble(f"ACK {ruri} SIP/2.0", headers, step, self.address)

    def _cancel(self, step: Send, dialog: PeerDialog | None) -> str:
        if dialog is None or dialog.invite is None:
            raise PeerError(f"{self.participant.name} has sent no INVITE to CANCEL")
        invite = dialog.invite
        headers = [("Via", self._via(dialog.invite_branch)), ("Max-Forwards", "70"),
                   ("From", invite.headers.get("From") or ""), ("To", invite.headers.get("To") or ""),
                   ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq.seq} CANCEL")]
        return _assemble(f"CANCEL {invite.uri} SIP/2.0", headers, step, self.address)

    def _response(self, step: Send, target: Participant) -> str:
        dialog = self._dialogs.get(target.address)
        requests = dialog.received if dialog is not None else []
        wanted = [r for r in requests
                  if (step.method is None or r.method == step.method) and r.method != "ACK"]
        if dialog is None or not wanted:
            what = f"{step.method} request" if step.method else "request"
            raise PeerError(f"{self.participant.name} has received no {what} from {target.name} "
                            f"to answer with {step.status}")
        pending = [r for r in wanted if id(r) not in dialog.answered]
        request = (pending or wanted)[-1]
        status = step.status or 200
        if status >= 200:
            dialog.answered.add(id(request))
        if request.method == "INVITE" and 200 <= status < 300:
            dialog.confirmed = True
        reason = step.reason if step.reason is not None else REASON_PHRASES.get(status, "Unknown")
        headers: list[tuple[str, str]] = [("Via", via) for via in request.headers.get_all("Via")]
        to = request.headers.get("To") or ""
        if status > 100 and "tag=" not in to:
            to += f";tag={dialog.local_tag}"
        headers += [("From", request.headers.get("From") or ""), ("To", to),
                    ("Call-ID", request.headers.get("Call-ID") or ""),
                    ("CSeq", request.headers.get("CSeq") or "")]
        if request.method in CONTACT_METHODS and 100 < status < 300:
            headers.append(("Contact", f"<{self.participant.uri}>"))
        return _assemble(f"SIP/2.0 {status} {reason}", headers, step, self.address)


def _assemble(start: str, headers: list[tuple[str, str]], step: Send, address: Address) -> str:
    """Start line, generated headers with the step's overrides, Content-Length, body."""
    body = "" if step.body is None else (sdp_body(address) if step.body == "sdp" else step.body)
    if body and not body.endswith("\n"):
        body += "\r\n"
    overrides = {name.lower(): (name, value) for name, value in step.headers}
    fields: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() in overrides:
            continue
        fields.append((name, value))
    if body and "content-type" not in overrides:
        fields.append(("Content-Type", "application/sdp"))
    for name, value in step.headers:
        if value is not None and name.lower() != "content-length":
            fields.append((name, value))
    length = overrides.get("content-length")
    if length is None:
        fields.append(("Content-Length", str(len(body.encode("utf-8")))))
    elif length[1] is not None:
        fields.append(("Content-Length", length[1]))
    lines = [start, *(f"{name}: {value}" for name, value in fields)]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _uri_of(value: str) -> str:
    """The URI of a name-addr header value (``"A" <sip:a@h>;tag=x`` → ``sip:a@h``)."""
    if "<" in value and ">" in value:
        return value[value.index("<") + 1: value.index(">")]
    return value.split(";", 1)[0].strip()


def _safe(get: Callable[[], Any]) -> Any:
    """``get()``, or None when the message's header is malformed."""
    try:
        return get()
    except RemoteProtocolError:
        return None
