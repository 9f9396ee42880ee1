"""``UdpTransport.set_receive_buffer``: the size is asked for, read back, and described.

The process often runs as root here, where ``SO_RCVBUFFORCE`` lifts the
``net.core.rmem_max`` cap; the capped path is checked through the record the
call returns (``ReceiveBuffer``), whose figures come from ``getsockopt``.
"""

from __future__ import annotations

import socket
import sys

import pytest

from sipflow.transport.options import RECV_BUFFER
from sipflow.transport.udp import ReceiveBuffer, UdpTransport

LINUX = sys.platform.startswith("linux")


def kernel_default(family: int = socket.AF_INET) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def test_the_default_size_is_read_back_and_at_least_the_kernel_default(run) -> None:
    async def main() -> ReceiveBuffer:
        udp = await UdpTransport.open("127.0.0.1", 0)
        try:
            result = udp.set_receive_buffer(RECV_BUFFER)
            sock = udp._transport.get_extra_info("socket")
            assert result.effective == sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            return result
        finally:
            udp.close()

    result = run(main())
    assert result.requested == RECV_BUFFER == 4 << 20
    assert result.before == kernel_default()
    assert result.effective >= kernel_default()
    assert not result.error
    if result.forced and LINUX:  # root: the kernel grants it all and reports twice that
        assert result.effective == 2 * RECV_BUFFER and not result.capped
        assert "SO_RCVBUFFORCE" in result.describe("udp:127.0.0.1:5060")


def test_a_small_size_is_granted_too(run) -> None:
    async def main() -> ReceiveBuffer:
        udp = await UdpTransport.open("127.0.0.1", 0)
        try:
            return udp.set_receive_buffer(64 << 10)
        finally:
            udp.close()

    result = run(main())
    assert 64 << 10 <= result.effective <= max(2 * (64 << 10), kernel_default())


def test_ipv6_socket(run) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")

    async def main() -> ReceiveBuffer:
        udp = await UdpTransport.open("::1", 0)
        try:
            return udp.set_receive_buffer(1 << 20)
        finally:
            udp.close()

    assert run(main()).effective >= kernel_default(socket.AF_INET6)


@pytest.mark.parametrize("size", [0, -1, 1.5, "4M", True])
def test_a_bad_size_is_refused(run, size) -> None:
    async def main() -> None:
        udp = await UdpTransport.open("127.0.0.1", 0)
        try:
            with pytest.raises(ValueError, match="positive integer"):
                udp.set_receive_buffer(size)
        finally:
            udp.close()

    run(main())


def test_descriptions() -> None:
    where = "udp:127.0.0.1:5060"
    forced = ReceiveBuffer(4 << 20, 8 << 20, 212992, True)
    assert forced.describe(where) == (
        "udp:127.0.0.1:5060: receive buffer 8388608 bytes as read back (asked 4194304; "
        "SO_RCVBUFFORCE)")
    capped = ReceiveBuffer(4 << 20, 425984, 212992, False)
    assert capped.capped
    assert "capped by net.core.rmem_max" in capped.describe(where)
    assert "sysctl -w net.core.rmem_max" in capped.describe(where)
    granted = ReceiveBuffer(1 << 20, 2 << 20 if LINUX else 1 << 20, 212992, False)
    assert not granted.capped and granted.describe(where).endswith("(asked 1048576)")
    failed = ReceiveBuffer(1 << 20, 212992, 212992, False, "Operation not permitted")
    assert failed.describe(where) == ("udp:127.0.0.1:5060: receive buffer left at 212992 "
                                      "bytes: cannot set 1048576: Operation not permitted")
    assert len(capped.describe(where).splitlines()) == 1
