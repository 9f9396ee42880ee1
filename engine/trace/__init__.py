"""Message traces: pcap files written from sipflow and SIP messages read back from captures.

- ``sipflow.trace.pcap``: ``PcapWriter`` (classic pcap, Ethernet, synthesised
  IPv4/IPv6 + UDP/TCP headers) and ``read_pcap`` (records of a classic pcap).
- ``sipflow.trace.packets``: building and decoding the link/IP/UDP/TCP headers.
- ``sipflow.trace.tcp_reassembly``: in-order bytes of one captured TCP direction.
- ``sipflow.trace.capture``: ``read_capture`` — the SIP messages of a capture.

A writer's ``write(time, transport, src, dst, data)`` has the signature of the
transport trace hook (``EndpointDriver.set_trace``), so ``sipflow serve
--trace FILE`` is ``driver.set_trace(PcapWriter(FILE, time_offset=…).write)``.
"""

from sipflow.trace.capture import Capture, CapturedMessage, read_capture
from sipflow.trace.pcap import PcapError, PcapWriter, read_pcap

__all__ = ["Capture", "CapturedMessage", "PcapError", "PcapWriter", "read_capture", "read_pcap"]
