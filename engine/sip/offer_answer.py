"""The SDP offer/answer model for audio (RFC 3264), sans-I/O.

Rules:

- Audio over ``RTP/AVP`` only, and one audio stream per session; every
  other ``m=`` line of an offer is rejected with port 0, as RFC 3264 §6
  says (same number and order of m-lines, at least one format).
- Codecs are intersected keeping the offer's order and payload types;
  ``telephone-event`` alone is not a usable codec. An offer with nothing
  in common raises ``OfferAnswerError`` with ``status`` 488.
- Directions follow RFC 3264 §6.1: what we send is what we want to send and
  the offerer wants to receive, and the other way round; so with a local
  ``sendrecv``, sendonly is answered recvonly, recvonly sendonly, inactive
  inactive. Hold is RFC 3264 §8.4: sendrecv becomes sendonly, recvonly
  becomes inactive; resume goes back to the configured direction.
  ``SdpSession`` applies these to its local wish (the configured direction,
  or the held one), which it offers as is; the answers narrow it.
- The ``o=`` sess-version grows by one for every local description that
  differs from the last one sent, and stays the same when it is sent again
  unchanged (RFC 3264 §8).
- The peer's mistakes raise ``OfferAnswerError`` (a ``RemoteProtocolError``)
  or ``SdpError`` (garbage, 400); which SIP answer follows is the caller's
  choice, ``status`` tells what RFC 3264/3311 suggest: 488 nothing
  acceptable, 491 an offer of ours is outstanding (glare), 500 an offer of
  theirs is still unanswered, 400 an answer nobody asked for or with the
  wrong m-lines. Our own misuse (offering while an offer is outstanding,
  answering when there is nothing to answer) raises ``LocalProtocolError``:
  check ``offer_outstanding``/``pending`` first.

Theory of operation:

``make_offer``, ``make_answer``, ``hold`` and ``resume`` are pure functions
over ``SessionDescription`` values. ``SdpSession`` is the per-dialog record
that uses them: it keeps the last local and remote bodies as bytes (a few
hundred bytes in all, parsed again only when needed), which side has an
offer outstanding, the sess-id and version, and the local hold state. The
dialog layer and the tables ask it ``offer_outstanding``/``pending`` to tell
"offer in 183 answered in PRACK" from "offer in UPDATE", and map its errors to
488/491/500.

Per call, the work is kept small (it runs twice for every call a UA makes
or takes). Our bodies are text: what follows the ``o=`` line of an offer or
of an answer's audio section is rendered once per ``MediaConfig`` (by the
model's own serializer, so byte for byte the same) and kept with it; a
call only writes its ``o=`` line. The peer's bodies are read into an
immutable ``PeerDescription`` (m-lines, effective directions, codecs),
remembered under the text after their ``o=`` line (``sdp.origin_rest``),
which is all that varies between the calls of one peer; the ``o=`` line
itself is checked every time, and anything else (another shape, a fault)
goes through the full parser. ``make_answer`` and ``SdpSession`` share one
negotiation (``_negotiate``). Re-offers (hold, resume) go through the model.

Usage::

    media = MediaConfig(address="192.0.2.1", port=40000)   # one per user agent
    caller, callee = SdpSession(media), SdpSession(media)  # one per dialog
    offer = caller.create_offer()            # INVITE body
    answer = callee.answer_offer(offer)      # 200 body (OfferAnswerError -> .status)
    caller.receive_answer(answer)
    reinvite_body = caller.hold()            # sendonly; callee answers recvonly
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sipflow.sip.errors import LocalProtocolError, RemoteProtocolError
from sipflow.sip.sdp import (
    DIRECTIONS,
    Attribute,
    Connection,
    Media,
    Origin,
    SdpError,
    SessionDescription,
    Timing,
    origin_rest,
    parse,
    static_rtpmap,
)

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Codec",
    "MediaConfig",
    "OfferAnswerError",
    "PeerDescription",
    "PeerStream",
    "SdpError",
    "SdpSession",
    "answer_direction",
    "describe",
    "hold",
    "make_answer",
    "make_offer",
    "media_codecs",
    "resume",
]


class OfferAnswerError(RemoteProtocolError, ValueError):
    """An offer or answer of the peer's we cannot take; ``status`` is the SIP
    response code RFC 3264/3311 suggest for it (488, 491, 500 or 400)."""

    def __init__(self, reason: str, status: int = 488) -> None:
        super().__init__(reason, status)


@dataclass(frozen=True)
class Codec:
    """An RTP payload format: encoding name, clock rate, channels, the payload
    type we use when we offer it, and its ``fmtp`` parameters."""

    name: str
    clock_rate: int
    payload_type: int
    channels: int = 1
    fmtp: str | None = None

    def matches(self, name: str, clock_rate: int, channels: int | None) -> bool:
        """Same encoding (case-insensitive), clock rate and channel count."""
        return (
            self.name.lower() == name.lower()
            and self.clock_rate == clock_rate
            and self.channels == (channels or 1)
        )

    def check(self) -> None:
        """Raise ``ValueError`` unless this codec can be offered (local configuration;
        codecs read from a peer's SDP are taken as they are)."""
        if not self.name or any(c in self.name for c in " /\r\n"):
            raise ValueError(f"bad codec name {self.name!r}")
        if not 0 <= self.payload_type <= 127:
            raise ValueError(
                f"codec {self.name}: payload type {self.payload_type} out of range 0..127"
            )
        if self.clock_rate <= 0 or self.channels <= 0:
            raise ValueError(f"codec {self.name}: clock rate and channels must be positive")
        if self.fmtp is not None and ("\r" in self.fmtp or "\n" in self.fmtp):
            raise ValueError(f"codec {self.name}: CR or LF in fmtp")

    @property
    def is_dtmf(self) -> bool:
        """``telephone-event`` (RFC 4733): never a codec on its own."""
        return self.name.lower() == "telephone-event"


PCMU = Codec("PCMU", 8000, 0)
PCMA = Codec("PCMA", 8000, 8)
TELEPHONE_EVENT = Codec("telephone-event", 8000, 101, fmtp="0-16")
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA, TELEPHONE_EVENT)


@dataclass(frozen=True)
class MediaConfig:
    """What the local side offers and accepts. Shared by every dialog of a
    user agent, so it costs nothing per dialog. It also keeps, outside its
    fields (equality, hash and repr ignore them), the texts our bodies are
    made of and its codecs by name, clock rate and channels."""

    address: str = "127.0.0.1"
    port: int = 40000
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    ptime: int | None = 20
    direction: str = "sendrecv"
    username: str = "-"
    session_name: str = "sipflow"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"not an SDP direction: {self.direction!r}")
        if not 0 < self.port <= 65535:
            raise ValueError(f"media port {self.port} out of range 1..65535")
        for codec in self.codecs:
            codec.check()
        if not any(not codec.is_dtmf for codec in self.codecs):
            raise ValueError("MediaConfig needs at least one audio codec besides telephone-event")
        payload_types = [codec.payload_type for codec in self.codecs]
        if len(set(payload_types)) != len(payload_types):
            raise ValueError(f"MediaConfig: payload types repeat in {payload_types}")
        for what, value in (("address", self.address), ("username", self.username)):
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"MediaConfig: bad {what} {value!r}")
        if not self.session_name or "\r" in self.session_name or "\n" in self.session_name:
            raise ValueError(f"MediaConfig: bad session name {self.session_name!r}")
        if self.ptime is not None and self.ptime <= 0:
            raise ValueError(f"MediaConfig: ptime {self.ptime} must be positive")
        # Not a field: the texts and lookup tables derived from the fields, built once.
        object.__setattr__(self, "_tables", _Tables(self))

    @property
    def addrtype(self) -> str:
        """``IP6`` for an IPv6 address, else ``IP4``."""
        return "IP6" if ":" in self.address else "IP4"


# ---------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------


def _sends(direction: str) -> bool:
    return direction in ("sendrecv", "sendonly")


def _receives(direction: str) -> bool:
    return direction in ("sendrecv", "recvonly")


def _direction(send: bool, receive: bool) -> str:
    if send and receive:
        return "sendrecv"
    if send:
        return "sendonly"
    if receive:
        return "recvonly"
    return "inactive"


def answer_direction(offered: str, local: str = "sendrecv") -> str:
    """The answer's direction for an offered one, given what we want (RFC 3264 §6.1)."""
    return _direction(_sends(local) and _receives(offered), _receives(local) and _sends(offered))


def _new_origin(config: MediaConfig, sess_id: int, version: int) -> Origin:
    return Origin(config.username, str(sess_id), version, "IN", config.addrtype, config.address)


#: One RTP payload format as negotiation sees it: (payload type, encoding name,
#: clock rate, channels, fmtp parameters or None).
_Format = tuple[int, str, int, int, str | None]


def _audio_media(config: MediaConfig, formats: Sequence[_Format], direction: str) -> Media:
    media = Media("audio", config.port, "RTP/AVP", [str(f[0]) for f in formats])
    for pt, name, clock_rate, channels, fmtp in formats:
        suffix = f"/{channels}" if channels != 1 else ""
        media.attributes.append(Attribute("rtpmap", f"{pt} {name}/{clock_rate}{suffix}"))
        if fmtp:
            media.attributes.append(Attribute("fmtp", f"{pt} {fmtp}"))
    if config.ptime is not None:
        media.attributes.append(Attribute("ptime", str(config.ptime)))
    media.attributes.append(Attribute(direction))
    return media


def _skeleton(config: MediaConfig, origin: Origin) -> SessionDescription:
    return SessionDescription(
        origin=origin,
        name=config.session_name,
        connection=Connection("IN", config.addrtype, config.address),
        times=[Timing(0, 0)],
    )


def _own_formats(config: MediaConfig) -> tuple[_Format, ...]:
    return tuple(
        (c.payload_type, c.name, c.clock_rate, c.channels, c.fmtp) for c in config.codecs
    )


def make_offer(
    config: MediaConfig, *, sess_id: int = 0, version: int = 0, direction: str | None = None
) -> SessionDescription:
    """A fresh offer: one audio stream with the configured codecs and their
    payload types, in the configured (or given) direction."""
    desc = _skeleton(config, _new_origin(config, sess_id, version))
    desc.media.append(_audio_media(config, _own_formats(config), direction or config.direction))
    return desc


def media_codecs(media: Media) -> list[tuple[int, Codec]]:
    """The formats of an RTP media section as ``(payload type, Codec)`` in
    order; formats without a known meaning are left out."""
    out: list[tuple[int, Codec]] = []
    if not media.is_rtp:
        return out
    rtpmaps = media.rtpmaps()
    for pt in media.payload_types:
        rtpmap = rtpmaps.get(pt) or static_rtpmap(pt)  # media.codec(pt), rtpmaps parsed once
        if rtpmap is None:
            continue
        out.append(
            (
                pt,
                Codec(rtpmap.encoding, rtpmap.clock_rate, pt, rtpmap.channels or 1, media.fmtp(pt)),
            )
        )
    return out


class PeerStream(NamedTuple):
    """What offer/answer reads of one m-line of the peer's: media type, port,
    transport, first format (``"0"`` when none), effective direction, and the
    formats with a known meaning, in order, as ``(payload type, encoding,
    clock rate, channels, fmtp)``."""

    media: str
    port: int
    proto: str
    first_format: str
    direction: str
    formats: tuple[_Format, ...]


class PeerDescription(NamedTuple):
    """What offer/answer reads of a peer's description (immutable; see
    ``describe``): its m-lines in order, and ``hold``: at least one stream is
    active and none of them receives (RFC 3264 §8.4)."""

    streams: tuple[PeerStream, ...]
    hold: bool

    def check_answerable(self, config: MediaConfig, *, allow_all_disabled: bool = False) -> None:
        """Raise ``OfferAnswerError`` (488) exactly when ``make_answer`` would
        for this offer."""
        _negotiate(self.streams, config, config.direction, allow_all_disabled)


def _formats(media: Media) -> tuple[_Format, ...]:
    """The formats negotiation may read: those of an active ``RTP/AVP`` audio stream."""
    if media.media != "audio" or media.proto.upper() != "RTP/AVP" or media.port == 0:
        return ()
    return tuple((pt, c.name, c.clock_rate, c.channels, c.fmtp) for pt, c in media_codecs(media))


def describe(desc: SessionDescription) -> PeerDescription:
    """The ``PeerDescription`` of a parsed description."""
    streams = tuple(
        PeerStream(
            media.media,
            media.port,
            media.proto,
            media.formats[0] if media.formats else "0",
            desc.media_direction(media),
            _formats(media),
        )
        for media in desc.media
    )
    active = [stream for stream in streams if stream.port != 0]
    return PeerDescription(streams, bool(active) and not any(_receives(s.direction) for s in active))


_PEERS: dict[bytes, PeerDescription] = {}
_PEERS_MAX = 256
_SECTION_MAX = 1_024


def _read(body: bytes | str) -> PeerDescription:
    """``describe(parse(body))``, remembered under ``origin_rest(body)``: the
    peer's bodies differ from call to call in their ``o=`` line only, which
    ``origin_rest`` checks on its own. Raises what ``parse`` raises."""
    if isinstance(body, bytes):
        key = origin_rest(body)
        if key is not None:
            known = _PEERS.get(key)
            if known is not None:
                return known
    else:
        key = None
    peer = describe(parse(body))
    if key is not None:
        if len(_PEERS) >= _PEERS_MAX:
            _PEERS.clear()
        _PEERS[key] = peer
    return peer


#: An accepted stream of an answer: its formats and direction; ``None`` is a rejected one.
_Section = tuple[tuple[_Format, ...], str] | None


def _common_formats(offered: PeerStream, config: MediaConfig) -> tuple[_Format, ...]:
    ours = _tables_of(config).by_key
    common: list[_Format] = []
    dtmf_only = True
    for pt, name, clock_rate, channels, fmtp in offered.formats:
        lower = name.lower()
        own = ours.get((lower, clock_rate, channels))
        if own is not None:
            common.append((pt, name, clock_rate, channels, fmtp if fmtp is not None else own.fmtp))
            if lower != "telephone-event":
                dtmf_only = False
    return () if dtmf_only else tuple(common)


#: The last successful ``_negotiate``: its arguments and result. The peer's
#: offers of one shape share one ``PeerDescription`` (``_read``), and each is
#: negotiated twice (``check_answerable`` on receipt, ``create_answer``).
_LAST_NEGOTIATION: tuple[Any, ...] = ()


def _negotiate(
    streams: Sequence[PeerStream], config: MediaConfig, wanted: str, allow_all_disabled: bool
) -> tuple[_Section, ...]:
    """RFC 3264 §6 for ``streams`` offered: one section per m-line. Raises
    ``OfferAnswerError`` (488) when no stream is acceptable (see ``make_answer``)."""
    global _LAST_NEGOTIATION
    last = _LAST_NEGOTIATION
    if (
        last
        and last[0] is streams
        and last[1] is config
        and last[2] == wanted
        and last[3] == allow_all_disabled
    ):
        return last[4]  # type: ignore[no-any-return]
    sections: list[_Section] = []
    accepted = False
    reasons: list[str] = []
    for index, stream in enumerate(streams, start=1):
        why = ""
        if accepted:
            why = "only one audio stream is supported"
        elif stream.media != "audio":
            why = f"media {stream.media!r} is not supported"
        elif stream.proto.upper() != "RTP/AVP":
            why = f"transport {stream.proto!r} is not supported"
        elif stream.port == 0:
            why = "the offer disabled it (port 0)"
        common = () if why else _common_formats(stream, config)
        if not why and not common:
            why = "no codec in common"
        if why:
            reasons.append(f"m-line {index}: {why}")
            sections.append(None)
            continue
        accepted = True
        sections.append((common, answer_direction(stream.direction, wanted)))
    if accepted or (allow_all_disabled and streams and all(s.port == 0 for s in streams)):
        result = tuple(sections)
        _LAST_NEGOTIATION = (streams, config, wanted, allow_all_disabled, result)
        return result
    detail = "; ".join(reasons) if reasons else "the offer has no m-line"
    raise OfferAnswerError(f"Offer not acceptable: {detail}.", 488)


def _rejected(offered: PeerStream) -> Media:
    return Media(offered.media, 0, offered.proto, [offered.first_format])


def make_answer(
    offer: SessionDescription,
    config: MediaConfig,
    *,
    sess_id: int = 0,
    version: int = 0,
    direction: str | None = None,
    allow_all_disabled: bool = False,
) -> SessionDescription:
    """The answer to ``offer``: the first audio stream we can take is
    accepted with the common codecs (offer's order and payload types), every
    other m-line is rejected with port 0. ``direction`` is what we want
    (default: the configured one).

    Raises ``OfferAnswerError`` (488) when no stream is acceptable, except
    when ``allow_all_disabled`` is set and the offer disabled every stream
    itself (a re-offer removing the media, RFC 3264 §8.2): that offer is
    answered with every port 0."""
    streams = describe(offer).streams
    sections = _negotiate(streams, config, direction or config.direction, allow_all_disabled)
    answer = _skeleton(config, _new_origin(config, sess_id, version))
    for stream, section in zip(streams, sections, strict=True):
        if section is None:
            answer.media.append(_rejected(stream))
        else:
            answer.media.append(_audio_media(config, *section))
    return answer


def _tables_of(config: MediaConfig) -> _Tables:
    """The ``_Tables`` kept with ``config`` (made by its ``__post_init__``)."""
    tables: _Tables = config.__dict__["_tables"]
    return tables


def _text(lines: Iterator[str] | list[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("utf-8")


class _Tables:
    """What a ``MediaConfig`` makes again and again, made once: the text after
    the ``o=`` line of our offers (by direction), of our answers' session part
    and audio sections (by formats and direction; bounded), and our codecs by
    (lower-case name, clock rate, channels). Every text comes from the
    description model's own serializer, so it is the same byte for byte."""

    __slots__ = ("config", "by_key", "session", "offers", "sections", "_last_answer")

    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self.by_key: dict[tuple[str, int, int], Codec] = {}
        for codec in config.codecs:
            self.by_key.setdefault((codec.name.lower(), codec.clock_rate, codec.channels), codec)
        self.session = _text(list(_skeleton(config, Origin()).lines())[2:])
        self.offers: dict[str, bytes] = {}
        self.sections: dict[tuple[tuple[_Format, ...], str], bytes] = {}
        # The last ``answer``: (streams, sections, text); the same offer shape
        # negotiates to the very same objects (``_negotiate``).
        self._last_answer: tuple[Any, ...] = ()

    def offer(self, direction: str) -> bytes:
        """The text after ``o=`` of ``make_offer`` in ``direction``."""
        text = self.offers.get(direction)
        if text is None:
            text = self.offers[direction] = self.session + self.section(
                _own_formats(self.config), direction
            )
        return text

    def section(self, formats: tuple[_Format, ...], direction: str) -> bytes:
        """The text of our audio section with ``formats`` in ``direction``."""
        key = (formats, direction)
        text = self.sections.get(key)
        if text is None:
            text = _text(_audio_media(self.config, formats, direction).lines())
            if len(text) <= _SECTION_MAX:  # a peer's long fmtp values are not kept
                if len(self.sections) >= _PEERS_MAX:
                    self.sections.clear()
                self.sections[key] = text
        return text

    def answer(self, streams: Sequence[PeerStream], sections: Sequence[_Section]) -> bytes:
        """The text after ``o=`` of the answer ``make_answer`` builds from ``sections``."""
        last = self._last_answer
        if last and last[0] is streams and last[1] is sections:
            return last[2]  # type: ignore[no-any-return]
        parts = [self.session]
        for stream, section in zip(streams, sections, strict=True):
            if section is None:
                parts.append(_text(_rejected(stream).lines()))
            else:
                parts.append(self.section(*section))
        text = b"".join(parts)
        self._last_answer = (streams, sections, text)
        return text


def hold(desc: SessionDescription) -> SessionDescription:
    """A copy with every active stream put on hold (RFC 3264 §8.4):
    sendrecv becomes sendonly, recvonly becomes inactive."""
    out = desc.copy()
    for media in out.media:
        if media.port != 0:
            current = out.media_direction(media)
            media.direction = _direction(_sends(current), False)
    out.direction = None
    return out


def resume(desc: SessionDescription, direction: str = "sendrecv") -> SessionDescription:
    """A copy with every active stream in ``direction`` again (default sendrecv)."""
    out = desc.copy()
    for media in out.media:
        if media.port != 0:
            media.direction = direction
    out.direction = None
    return out


# ---------------------------------------------------------------------------
# Per-dialog state
# ---------------------------------------------------------------------------


def _media_kinds(body: bytes) -> list[str]:
    """The media type of every m-line of a body that already parsed, cheaply
    (its first line is ``v=0``, and a space follows every media type)."""
    kinds: list[str] = []
    at = body.find(b"\nm=")
    while at >= 0:
        end = body.find(b" ", at + 3)
        kinds.append(body[at + 3 : end].decode())
        at = body.find(b"\nm=", end)
    return kinds


def _version_of(body: bytes) -> int:
    """The sess-version of a body we built ourselves (the third field of ``o=``)."""
    start = body.index(b"\r\no=") + 4
    end = body.index(b"\r\n", start)
    return int(body[start:end].split(b" ")[2])


class SdpSession:
    """The offer/answer state of one dialog (RFC 3264), a few hundred bytes.

    ``pending`` is ``"local"`` while an offer of ours waits for its answer,
    ``"remote"`` while an offer of theirs waits for ours, else ``None``.
    Local and remote bodies are kept as bytes; ``local_description`` and
    ``remote_description`` parse them on demand.
    """

    __slots__ = (
        "config",
        "sess_id",
        "version",
        "_local",
        "_remote",
        "_saved_local",
        "_saved_remote",
        "_pending",
        "_direction",
        "_we_answered",
        "_offer",
    )

    def __init__(
        self,
        config: MediaConfig,
        *,
        sess_id: int | None = None,
        random: Callable[[int], int] | None = None,
    ) -> None:
        draw = random or secrets.randbits
        self.config = config
        self.sess_id: int = sess_id if sess_id is not None else draw(62)
        #: The highest sess-version used so far (the first body has version 0).
        self.version: int = 0
        self._local: bytes | None = None
        self._remote: bytes | None = None
        self._saved_local: bytes | None = None
        self._saved_remote: bytes | None = None
        self._pending: str | None = None
        self._direction: str = config.direction
        self._we_answered = False
        self._offer: PeerDescription | None = None  # the remote offer, while pending

    # -- state ----------------------------------------------------------------

    @property
    def pending(self) -> str | None:
        """``"local"``, ``"remote"`` or ``None``: whose offer waits for an answer."""
        return self._pending

    @property
    def offer_outstanding(self) -> bool:
        """An offer (ours or theirs) waits for its answer."""
        return self._pending is not None

    @property
    def local(self) -> bytes | None:
        """The last body we sent (offer or answer); resend it as it is."""
        return self._local

    @property
    def remote(self) -> bytes | None:
        """The last body the peer sent."""
        return self._remote

    @property
    def local_description(self) -> SessionDescription | None:
        """``local``, parsed."""
        return parse(self._local) if self._local is not None else None

    @property
    def remote_description(self) -> SessionDescription | None:
        """``remote``, parsed."""
        return parse(self._remote) if self._remote is not None else None

    @property
    def established(self) -> bool:
        """At least one offer/answer exchange completed."""
        if self._pending is None:
            return self._local is not None and self._remote is not None
        return self._saved_local is not None and self._saved_remote is not None

    @property
    def on_hold(self) -> bool:
        """We have put the call on hold (we do not want to receive)."""
        return not _receives(self._direction)

    @property
    def remote_on_hold(self) -> bool:
        """The peer's last description stops its receiving on every active stream."""
        return self._remote is not None and _read(self._remote).hold

    def negotiated_codecs(self) -> list[Codec]:
        """The codecs of the audio stream agreed in the last completed exchange."""
        if self._pending is None:
            answer = self._local if self._we_answered else self._remote
        else:
            answer = self._saved_local if self._we_answered else self._saved_remote
        if answer is None:
            return []
        for media in parse(answer).media:
            if media.media == "audio" and media.port != 0:
                return [codec for _, codec in media_codecs(media)]
        return []

    # -- our offers -----------------------------------------------------------

    def create_offer(self) -> bytes:
        """Our offer (initial or re-offer); an offer is then outstanding.

        A re-offer keeps every m-line of our last body in place (RFC 3264
        §8), with the active audio stream in the current local direction.
        """
        if self._pending is not None:
            raise LocalProtocolError(
                f"cannot make an offer while a {self._pending} offer is outstanding"
            )
        if self._local is None:
            body = self._stamp_ours(_tables_of(self.config).offer(self._direction))
        else:
            body = self._stamp(self._reoffer(parse(self._local)))
        self._saved_local, self._saved_remote = self._local, self._remote
        self._local = body
        self._pending = "local"
        return body

    def _reoffer(self, desc: SessionDescription) -> SessionDescription:
        """Our last body again (``desc``, freshly parsed: changed in place), the
        active audio stream in the current local direction, every other m-line
        in place. When no audio stream is active any more (the peer removed
        it), audio comes back in the first disabled audio slot, else in a new
        m-line (RFC 3264 §8.1)."""
        desc.direction = None
        for media in desc.media:
            if media.media == "audio" and media.port != 0:
                media.direction = self._direction
                return desc
        fresh = make_offer(self.config, direction=self._direction).media[0]
        for index, media in enumerate(desc.media):
            if media.media == "audio":
                desc.media[index] = fresh
                return desc
        desc.media.append(fresh)
        return desc

    def receive_answer(self, body: bytes | str) -> SessionDescription:
        """Take the answer to our outstanding offer. The answer already taken,
        received again byte for byte (a 183 and then the 200), is accepted
        and changes nothing. Raises ``SdpError`` on garbage (nothing changes)
        and ``OfferAnswerError`` (400) when no offer of ours is outstanding
        or the m-lines do not match. ``take_answer`` does the same without
        returning the parsed answer."""
        self.take_answer(body)
        return parse(body)

    def take_answer(self, body: bytes | str) -> PeerDescription:
        """``receive_answer``, returning what offer/answer reads of the answer
        (cheap: the peer's bodies are parsed in full once per shape)."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if self._pending is None and data == self._remote:
            # The same answer again (in a 183 and then in the 200): nothing changes.
            return _read(data)
        if self._pending != "local" or self._local is None:
            raise OfferAnswerError("an SDP answer arrived but no offer of ours is outstanding", 400)
        peer = _read(body)
        offered = _media_kinds(self._local)
        if len(peer.streams) != len(offered):
            raise OfferAnswerError(
                f"the answer has {len(peer.streams)} m-lines, our offer had {len(offered)}", 400
            )
        for index, (ours, theirs) in enumerate(zip(offered, peer.streams, strict=True), start=1):
            if ours != theirs.media:
                raise OfferAnswerError(
                    f"m-line {index} of the answer is {theirs.media!r}, the offer's is {ours!r}",
                    400,
                )
        self._remote = data
        self._pending = None
        self._saved_local = self._saved_remote = None
        self._we_answered = False
        return peer

    def rollback(self) -> None:
        """Withdraw our outstanding offer (the request failed: 491, 488, timeout).

        Bodies and state go back to the last completed exchange; the local
        hold wish stays, so a retried ``create_offer()`` offers it again
        (call ``resume()`` or ``hold()`` to change it)."""
        if self._pending != "local":
            raise LocalProtocolError("no offer of ours to withdraw")
        self._local, self._remote = self._saved_local, self._saved_remote
        self._saved_local = self._saved_remote = None
        self._pending = None

    # -- their offers ---------------------------------------------------------

    def receive_offer(self, body: bytes | str) -> SessionDescription:
        """Take the peer's offer; answer it with ``create_answer`` (now or in a
        later message). Raises ``SdpError`` on garbage, ``OfferAnswerError``
        with 491 (glare: our offer is outstanding), 500 (their previous offer
        is unanswered) or 488 (fewer m-lines than before, RFC 3264 §8).
        ``take_offer`` does the same without returning the parsed offer."""
        self.take_offer(body)
        return parse(body)

    def take_offer(self, body: bytes | str) -> PeerDescription:
        """``receive_offer``, returning what offer/answer reads of the offer
        (cheap: the peer's bodies are parsed in full once per shape)."""
        if self._pending == "local":
            raise OfferAnswerError("an offer arrived while ours is outstanding (glare)", 491)
        if self._pending == "remote":
            raise OfferAnswerError("a second offer arrived before we answered the first", 500)
        peer = _read(body)
        if self._remote is not None:
            before = len(_media_kinds(self._remote))
            if len(peer.streams) < before:
                raise OfferAnswerError(
                    f"the re-offer has {len(peer.streams)} m-lines, fewer than the {before} before",
                    488,
                )
        self._saved_local, self._saved_remote = self._local, self._remote
        self._remote = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self._pending = "remote"
        self._offer = peer
        return peer

    def create_answer(self) -> bytes:
        """Our answer to the outstanding remote offer. Raises
        ``OfferAnswerError`` (488) when nothing is acceptable; the offer is
        then withdrawn and the previous state restored."""
        if self._pending != "remote" or self._offer is None:
            raise LocalProtocolError("no remote offer to answer")
        streams = self._offer.streams
        try:
            sections = _negotiate(
                streams, self.config, self._direction, self._saved_remote is not None
            )
        except OfferAnswerError:
            self.reject_offer()
            raise
        body = self._stamp_ours(_tables_of(self.config).answer(streams, sections))
        self._local = body
        self._pending = None
        self._saved_local = self._saved_remote = None
        self._offer = None
        self._we_answered = True
        return body

    def answer_offer(self, body: bytes | str) -> bytes:
        """``receive_offer`` then ``create_answer``."""
        self.take_offer(body)
        return self.create_answer()

    def reject_offer(self) -> None:
        """Forget the outstanding remote offer (we answered it with an error)."""
        if self._pending != "remote":
            raise LocalProtocolError("no remote offer to reject")
        self._local, self._remote = self._saved_local, self._saved_remote
        self._saved_local = self._saved_remote = None
        self._offer = None
        self._pending = None

    # -- hold -----------------------------------------------------------------

    def hold(self) -> bytes:
        """Put the call on hold: a re-offer with sendonly (inactive if we
        were only receiving), RFC 3264 §8.4."""
        self._direction = _direction(_sends(self._direction), False)
        return self.create_offer()

    def resume(self) -> bytes:
        """Take the call off hold: a re-offer in the configured direction."""
        self._direction = self.config.direction
        return self.create_offer()

    # -- versions -------------------------------------------------------------

    def _stamp(self, desc: SessionDescription) -> bytes:
        """Serialize ``desc`` with our sess-id and the right sess-version:
        the last one when the body is unchanged, else one more than the highest."""
        origin = desc.origin
        rest = _text(list(desc.lines())[2:])
        return self._stamp_text(origin.username, origin.nettype, origin.addrtype, origin.address, rest)

    def _stamp_ours(self, rest: bytes) -> bytes:
        """``_stamp`` for a description with our own origin and ``rest`` after it."""
        config = self.config
        return self._stamp_text(config.username, "IN", config.addrtype, config.address, rest)

    def _stamp_text(
        self, username: str, nettype: str, addrtype: str, address: str, rest: bytes
    ) -> bytes:
        """``v=0``, the ``o=`` line with our sess-id and the right sess-version, ``rest``."""
        head = f"v=0\r\no={username} {self.sess_id} ".encode()
        tail = f" {nettype} {addrtype} {address}\r\n".encode() + rest
        if self._local is not None:
            body = head + str(_version_of(self._local)).encode() + tail
            if body == self._local:
                return body
            self.version += 1
        return head + str(self.version).encode() + tail
