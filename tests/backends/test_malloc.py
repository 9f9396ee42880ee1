"""The pinned glibc mmap threshold (``sipflow.backends.malloc``): after a large block was
freed, large blocks still go to mmap, and back to the system when freed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sipflow.backends import malloc

PROBE = textwrap.dedent("""
    import ctypes, sys
    from sipflow.backends import malloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    info = ctypes.CDLL(None).mallinfo2
    info.restype = MallInfo2
    if sys.argv[1] == "pin":
        assert malloc.pin_mmap_threshold() and malloc.pin_mmap_threshold()
    big = bytearray(4 * 1024 * 1024)  # mmapped; its free raises glibc's dynamic threshold
    del big
    before = info().hblkhd
    table = bytearray(1024 * 1024)
    during = info().hblkhd
    del table
    print(during - before, info().hblkhd - before)
""")


def mmapped_growth(mode: str) -> tuple[int, int]:
    """(mmapped bytes while a 1 MiB block lives, after it is freed) in a fresh process."""
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    during, after = done.stdout.split()
    return int(during), int(after)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_blocks_still_go_to_mmap_after_a_large_free() -> None:
    during, after = mmapped_growth("pin")
    assert during >= 1024 * 1024 and after == 0  # mmapped, then given back
    during, after = mmapped_growth("dynamic")
    assert during == 0  # glibc's default: carved from the heap, where its hole stays


def test_elsewhere_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(malloc, "_pinned", False)
    monkeypatch.setattr(malloc.sys, "platform", "darwin")
    assert malloc.pin_mmap_threshold() is False
