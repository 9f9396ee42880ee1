"""Keep a long-running SIP process's RSS flat: a fixed glibc mmap threshold.

Rules:

* ``pin_mmap_threshold()`` sets glibc's ``M_MMAP_THRESHOLD`` to 128 KiB (its
  default value) once per process, which turns off glibc's *dynamic* mmap
  threshold. ``SipBackend.start`` calls it: every ``sipflow serve`` and
  ``sipflow call`` process runs with it.
* Elsewhere (musl, macOS, Windows) it does nothing and returns False; it never
  raises.

Theory of operation: the SIP core keeps its live transactions, dialogs and
timers in a few large dicts and heaps. At a steady call rate their sizes stay
the same, but a dict with keys coming and going is rebuilt now and then, so
tables of hundreds of KiB are allocated and freed all the time. glibc serves
those with mmap and unmaps them on free — until the first free of an mmapped
block raises the threshold to that block's size (the dynamic threshold). From
then on the tables come from the brk heap, and each rebuild leaves a hole
there that glibc cannot give back: RSS creeps up in steps while the live
Python objects stay exactly the same. Measured in virtual time (a serve-like
UAS, 450 calls/s, 150,000 calls): Python's allocated blocks and pymalloc arenas
flat from 20,000 calls on, yet RSS +2.5 MiB between 100,000 and 110,000 calls
with glibc's heap at 3.4 MiB free; with ``pin_mmap_threshold()`` called after
start-up, RSS flat from 30,000 to 130,000 calls (65,360 KiB throughout). The
cost: a table of 128 KiB or more that does not fit in the heap's free space
is one mmap and one munmap (a dict resize, rare).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""
THRESHOLD = 128 * 1024
"""glibc's default threshold, now fixed."""

_pinned = False


def pin_mmap_threshold(size: int = THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``size`` bytes (once a process); True when it is set."""
    global _pinned
    if _pinned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _pinned = mallopt(M_MMAP_THRESHOLD, size) == 1
    return _pinned
