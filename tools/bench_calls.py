"""Benchmark complete calls against sipp: sustained rate, concurrent calls, soak.

Usage: ``python tools/bench_calls.py [--out FILE] [--step-seconds 10]
[--start-rate 100] [--max-rate 8000] [--budget-seconds 480]
[--directions serve,call] [--concurrent N [--hold-ms MS]] [--soak SECONDS
[--soak-rate R]]``

Prints JSON (to ``--out FILE``, or stdout) and a one-line summary (stdout when
the JSON goes to a file, stderr otherwise). Every sipflow figure sits beside
the same figure for sipp's own UAS measured in the same run, with the ratio
sipflow/sipp.

Rules (CONTRACTS §8): every peer listens on 127.0.0.1 and a free port (never
5060); every process is bounded (``-m`` calls, ``-timeout``, wait limits) and
stopped by its PID (SIGTERM, then SIGKILL), never ``sipp -bg``, never by name.
The process handling is the interop harness's (``tests/interop``):
``SippRun``, ``free_port`` and ``ServeProcess`` are imported from there.

Theory of operation:

* A *step* offers calls at a rate R for ``--step-seconds`` (``R*T`` calls of
  sipp's basic scenario: INVITE, 100, 180, 200, ACK, BYE, 200) to a fresh
  subject process. The step *sustains* R when 0 calls failed, every offered
  call completed, and calls completed / elapsed time is at least 95 % of R.
  sipp slows itself down when its peer lags, so "0 failed" alone would
  flatter a slow peer; the elapsed time is read from sipp's ``-trace_stat``
  file (``-fd 1``: columns ``StartTime``, ``CurrentTime``,
  ``SuccessfulCall(C)``, ``FailedCall(C)``; ``ElapsedTime(C)`` only has
  whole seconds, so the epoch part of the two timestamps is used). For
  ``sipflow call`` the count and elapsed time are its own ``--format json``
  report (``passed``, ``failed``, ``elapsed_s``), cross-checked against the
  sipp UAS's ``SuccessfulCall(C)``.
* Every sipp gets ``-buff_size`` ``--sipp-buffer`` bytes (default 4 MiB), as
  ``sipflow serve`` and ``call`` get 4 MiB receive buffers. With sipp's own
  64 KiB (``--sipp-buffer 0``) a burst of datagrams overflows sipp's socket
  above ~3,000 calls/s, a few calls fail on sipp's side and the reference
  step fails: in one session the reference sustained 3,100, 4,600 and (an
  earlier session) 6,400 calls/s, so the yardstick measured its buffer, not
  its peer. With 4 MiB it sustained the 16,000 calls/s cap of the search.
* Subjects: ``reference`` (``sipp -sn uac`` → ``sipp -sn uas``), ``serve``
  (``sipp -sn uac`` → ``sipflow serve``) and ``call`` (``sipflow call`` →
  ``sipp -sn uas``). The reference is the yardstick of both directions.
* The *search* doubles R from ``--start-rate`` while steps sustain (up to
  ``--max-rate``), then bisects between the highest sustained and the lowest
  failed rate until they are within ``--precision`` (5 %) of each other, or
  the subject's share of ``--budget-seconds`` is spent (each subject gets an
  equal share of what is left when its turn comes).
* During every step the subject process (sipp UAS, ``sipflow serve`` or
  ``sipflow call``) is sampled every ``--sample-interval`` seconds: RSS from
  ``/proc/PID/status`` (``VmRSS``), CPU from ``/proc/PID/stat`` (utime +
  stime, as a % of one core over the step).
* ``--concurrent N`` holds N established calls (``sipp -sn uac -r 1000 -l N
  -d HOLD_MS -m N``) against a fresh ``sipflow serve``, and against ``sipp
  -sn uas``: RSS per call is (RSS while the calls are up − idle RSS) / the
  calls up, the "while up" RSS being the last sample while sipp's
  ``CurrentCall`` column (one row a second) stood at its peak (``N`` when
  the subject keeps up with the ramp; ``calls_up_peak`` says). The INVITE
  server transaction of a call lingers 32 s after its set-up (Timer L), so
  the default ``--hold-ms`` keeps every call up for well over 32 s after the
  last set-up; ``transactions_linger_at_sample`` (JSON and summary line)
  says whether the sample came before that. ``rss_kib_held_first`` is the
  sample when the peak was reached, lingering transactions included.
* ``--soak S`` offers ``--soak-rate`` (default: half the maximum ``serve``
  sustained in this run) to one ``sipflow serve`` for S seconds and reports
  its RSS after a warm-up (60 s, well past the 32 s that finished
  transactions linger on UDP; a tenth of the run if longer; at most half of
  it), every 10 s (the last sample up to that time), and at the end; the growth after the warm-up is also given per
  10,000 calls offered (``rss_growth_kib_per_10k_calls``), the readable
  figure: 0 means flat. One step after the warm-up is expected, not a leak:
  CPython rebuilds a dict's table from its live count x 3 rounded up to a
  power of two, so the core's two dicts of live transactions (2 per call for
  32 s: 64,000 entries at 1,000 calls/s) double once, 2^17 -> 2^18 slots
  (+2.6 MiB each), at their first rebuild after the ramp. Measured in virtual
  time at 1,000 calls/s: +5.1 MiB between 43,000 and 44,000 calls (glibc's
  mmapped bytes 6.5 -> 11.6 MiB, Python's allocated blocks flat), then flat to
  100,000 calls. The tables are bounded by 3 x the peak live count; crossing
  from 5- to 6-digit sipp call numbers (an earlier guess) changed nothing.

Bad input (a missing ``sipp``, impossible options) ends with one line on
stderr and exit code 2; a subject that crashes is reported in its step.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.interop.conftest import SIPFLOW, ServeProcess  # noqa: E402
from tests.interop.sipp_harness import SippRun, free_port  # noqa: E402

SIPP_BUFFER: list[str] = ["-buff_size", str(4 * 1024 * 1024)]
"""sipp's socket buffer option (``--sipp-buffer``; empty: sipp's default; see the module rules)."""
SUSTAIN = 0.95
"""A step sustains its rate when calls completed / elapsed reach this share of it."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
WARMUP_S = 60.0
"""Soak RSS is compared from here on (or a tenth of the run, if longer; at most half of it).
Finished INVITE and BYE transactions linger 32 s each, and the first full collections come
later still: at 450 calls/s serve's RSS rose until about 50 s, then stayed within 0.2 %."""
LINGER_S = 32.0
"""How long a finished transaction lingers on UDP (64 x T1: Timers J and L); the INVITE server
transaction of a call set up at time t is gone at t + 32 s."""


# --------------------------------------------------------------------------- sampling


def read_rss_kib(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` in KiB, or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; field 3 is fields[0]
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Sampler:
    """Samples one process's RSS (and its CPU at start and stop) on a thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)
    _t0: float = 0.0
    _epoch0: float = 0.0
    _cpu0: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    cpu_percent: float | None = None

    def start(self) -> Sampler:
        self._t0 = time.monotonic()
        self._epoch0 = time.time()
        self._cpu0 = read_cpu_seconds(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            rss = read_rss_kib(self.pid)
            if rss is not None:
                self.samples.append((time.monotonic() - self._t0, rss))
            if self._stop.wait(self.interval):
                return

    def stop(self) -> Sampler:
        """Stop sampling (call before the process exits, so its CPU time can still be read)."""
        cpu1 = read_cpu_seconds(self.pid)
        wall = time.monotonic() - self._t0
        if self._cpu0 is not None and cpu1 is not None and wall > 0:
            self.cpu_percent = round(100 * (cpu1 - self._cpu0) / wall, 1)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        return self

    def rss_between(self, start: float, end: float) -> int | None:
        """The highest RSS sampled between ``start`` and ``end`` seconds after ``start()``."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        return max(inside) if inside else None

    def rss_between_epochs(self, start: float, end: float) -> int | None:
        """The highest RSS sampled between two wall-clock times (epoch seconds)."""
        return self.rss_between(start - self._epoch0, end - self._epoch0)

    def last_between_epochs(self, start: float, end: float) -> tuple[float, int] | None:
        """(epoch, RSS) of the last sample between two wall-clock times, or None."""
        inside = [(t, rss) for t, rss in self.samples
                  if start <= t + self._epoch0 <= end]
        return (inside[-1][0] + self._epoch0, inside[-1][1]) if inside else None

    def summary(self) -> dict[str, object]:
        rss = [r for _, r in self.samples]
        return {"rss_kib_first": rss[0] if rss else None, "rss_kib_max": max(rss, default=None),
                "rss_kib_last": rss[-1] if rss else None, "cpu_percent": self.cpu_percent,
                "samples": len(rss)}


# --------------------------------------------------------------------------- sipp


def sipp_epoch(stamp: str) -> float:
    """The epoch seconds of a sipp ``-trace_stat`` time (``date<TAB>time<TAB>epoch``)."""
    return float(stamp.split("\t")[-1])


def sipp_figures(stats: dict[str, str]) -> dict[str, float | int]:
    """Completed, failed and elapsed seconds from the last ``-trace_stat`` row."""
    if not stats:
        raise ValueError("sipp wrote no -trace_stat row")
    try:
        return {"completed": int(stats["SuccessfulCall(C)"]), "failed": int(stats["FailedCall(C)"]),
                "elapsed_s": round(sipp_epoch(stats["CurrentTime"]) - sipp_epoch(stats["StartTime"]), 3)}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unexpected sipp -trace_stat row ({exc}): {stats}") from None


def sipp_rows(workdir: Path) -> list[dict[str, str]]:
    """Every row of the ``-trace_stat`` CSV file sipp wrote in ``workdir``, by column name."""
    files = sorted(workdir.glob("*.csv"))
    if not files:
        return []
    lines = [ln for ln in files[-1].read_text().splitlines() if ln.strip()]
    header = lines[0].rstrip(";").split(";") if lines else []
    return [dict(zip(header, ln.rstrip(";").split(";"), strict=False)) for ln in lines[1:]]


def plateau(rows: list[dict[str, str]]) -> tuple[int, float, float] | None:
    """The most calls sipp had up at once and the first and last time (epoch) it had them."""
    try:
        counts = [(sipp_epoch(r["CurrentTime"]), int(r["CurrentCall"])) for r in rows]
    except (KeyError, ValueError):
        return None
    if not counts:
        return None
    peak = max(c for _, c in counts)
    times = [t for t, c in counts if c == peak]
    return peak, times[0], times[-1]


def sipp_uac_args(port: int, rate: int, calls: int, timeout_s: float, *extra: str) -> list[str]:
    """sipp's basic UAC scenario towards 127.0.0.1:``port``, bounded in calls and time."""
    return ["-sn", "uac", "-i", "127.0.0.1", "-p", str(free_port()), "-r", str(rate),
            "-m", str(calls), "-timeout", f"{int(timeout_s)}s", "-trace_stat", "-fd", "1",
            "-nostdin", *SIPP_BUFFER, *extra, f"127.0.0.1:{port}"]


def sipp_uas(workdir: Path, timeout_s: float, calls: int = 0) -> tuple[SippRun, int]:
    """Start sipp's basic UAS on a free port (exiting after ``calls`` calls, if given)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    bound = ["-m", str(calls)] if calls else []
    uas = SippRun(["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-trace_stat", "-fd", "1",
                   "-timeout", f"{int(timeout_s)}s", "-nostdin", *SIPP_BUFFER, *bound],
                  workdir, timeout=timeout_s)
    uas.start()
    time.sleep(0.2)  # sipp binds within milliseconds; UDP cannot be probed
    if uas.process is None or uas.process.poll() is not None:
        raise RuntimeError(f"sipp -sn uas did not start: {uas.output()[-500:]}")
    return uas, port


SERVE_ARGS: list[str] = []
"""Extra ``sipflow serve`` arguments (``--serve-arg``, e.g. ``--overload-lag-ms=0``)."""


def start_serve(workdir: Path) -> ServeProcess:
    """Start ``sipflow serve`` on a free UDP port of 127.0.0.1 (its port in ``.ports['udp']``)."""
    return ServeProcess(["--listen", "udp:127.0.0.1:0", *SERVE_ARGS], workdir).start()


# --------------------------------------------------------------------------- steps


@dataclass
class Step:
    """One rate step of one subject."""

    rate: int
    offered: int
    completed: int
    failed: int
    elapsed_s: float
    achieved_cps: float
    sustained: bool
    subject: dict[str, object]
    note: str = ""


def judge(rate: int, offered: int, completed: int, failed: int, elapsed: float,
          subject: dict[str, object], note: str = "") -> Step:
    """Apply the sustain rule to one step's figures."""
    achieved = completed / elapsed if elapsed > 0 else 0.0
    ok = failed == 0 and completed == offered and achieved >= SUSTAIN * rate
    return Step(rate, offered, completed, failed, round(elapsed, 3), round(achieved, 1), ok,
                subject, note)


def step_uac_against(target: str, rate: int, args: argparse.Namespace, workdir: Path) -> Step:
    """``sipp -sn uac`` at ``rate`` against a fresh ``target`` ('reference' or 'serve')."""
    calls = max(1, round(rate * args.step_seconds))
    limit = args.step_seconds * 3 + 30
    stop_target, pid, port = start_target(target, workdir, limit)
    sampler = Sampler(pid, args.sample_interval).start()
    uac = SippRun(sipp_uac_args(port, rate, calls, limit), workdir / "uac", timeout=limit + 10)
    (workdir / "uac").mkdir(parents=True, exist_ok=True)
    note = drive_uac(uac, sampler, stop_target)
    try:
        fig = sipp_figures(uac.stats())
    except ValueError as exc:
        return judge(rate, calls, 0, calls, 0.0, sampler.summary(), str(exc))
    return judge(rate, calls, int(fig["completed"]), int(fig["failed"]), float(fig["elapsed_s"]),
                 sampler.summary(), note)


def start_target(target: str, workdir: Path, limit: float) -> tuple[Callable[[], None], int, int]:
    """Start a fresh ``target`` ('serve' or sipp's UAS): (how to stop it, its PID, its UDP port)."""
    if target == "serve":
        server = start_serve(workdir / "serve")
        return (lambda: _stop_serve(server), server.process.pid,  # type: ignore[union-attr]
                server.ports["udp"])
    uas, port = sipp_uas(workdir / "uas", limit + 10)
    return uas.stop, uas.process.pid, port  # type: ignore[union-attr]


def drive_uac(uac: SippRun, sampler: Sampler, stop_target: Callable[[], None]) -> str:
    """Run the sipp UAC to its end, then stop the sampler and the target; returns a note
    (the first line of sipp's failure to finish in time, or "")."""
    note = ""
    try:
        with uac:
            try:
                uac.wait()
            except AssertionError as exc:
                note = str(exc).splitlines()[0]
    finally:
        sampler.stop()
        stop_target()
    return note


def _stop_serve(server: ServeProcess) -> None:
    try:
        server.stop(timeout=15)
    except AssertionError:
        pass  # stop() killed it already


def step_call(rate: int, args: argparse.Namespace, workdir: Path) -> Step:
    """``sipflow call`` at ``rate`` against a fresh ``sipp -sn uas``."""
    calls = max(1, round(rate * args.step_seconds))
    limit = args.step_seconds * 3 + 30
    uas, port = sipp_uas(workdir / "uas", limit + 10, calls)
    argv = [*SIPFLOW, "call", f"sip:bench@127.0.0.1:{port}", "--count", str(calls),
            "--rate", str(rate), "--concurrency", str(max(200, 2 * rate)), "--format", "json",
            "--timeout", str(limit)]
    out_path, err_path = workdir / "call.out", workdir / "call.err"
    note = ""
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
        sampler = Sampler(proc.pid, args.sample_interval).start()
        try:
            proc.wait(timeout=limit + 10)
        except subprocess.TimeoutExpired:
            note = f"sipflow call did not finish within {limit + 10} s"
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        finally:
            sampler.stop()
            wall = time.monotonic() - t0
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # sipflow call, reaped
            try:  # sipp exits by itself (-m) once every call ended (its uas scenario
                uas.wait(timeout=6)  # keeps a call 4 s after the BYE), writing its last row
            except AssertionError:
                pass  # wait() stopped it
            uas.stop()
    subject = sampler.summary()
    used = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    subject["cpu_percent"] = round(100 * used / wall, 1) if wall > 0 else None
    try:
        report = json.loads(out_path.read_text())
        passed, failed, elapsed = int(report["passed"]), int(report["failed"]), float(report["elapsed_s"])
    except (ValueError, KeyError, TypeError):
        tail = (out_path.read_text(errors="replace") + err_path.read_text(errors="replace"))[-300:]
        return judge(rate, calls, 0, calls, 0.0, subject, note or f"no JSON report from sipflow call: {tail}")
    try:
        subject["uas_successful"] = int(uas.stats()["SuccessfulCall(C)"])
    except (KeyError, ValueError):
        pass
    return judge(rate, calls, passed, failed, elapsed, subject, note)


# --------------------------------------------------------------------------- search


def search(run_step: Callable[[int], Step], start: int, max_rate: int, precision: float,
           budget_s: float, step_cost_s: float) -> dict[str, object]:
    """Double from ``start`` while steps sustain, then bisect; bounded by ``budget_s``."""
    t0 = time.monotonic()
    steps: list[Step] = []
    best: int | None = None
    lowest_fail: int | None = None
    rate: int | None = start
    stopped = "converged"
    while rate is not None:
        if time.monotonic() - t0 + step_cost_s > budget_s:
            stopped = "budget spent"
            break
        step = run_step(rate)
        steps.append(step)
        if step.sustained:
            best = rate
        else:
            lowest_fail = rate if lowest_fail is None else min(lowest_fail, rate)
        rate = next_rate(best, lowest_fail, max_rate, precision)
        if rate is None and best == max_rate:
            stopped = "max rate reached"
    return {"max_sustained_cps": best, "lowest_failed_cps": lowest_fail, "stopped": stopped,
            "seconds": round(time.monotonic() - t0, 1), "steps": [asdict(s) for s in steps]}


def next_rate(best: int | None, fail: int | None, max_rate: int, precision: float) -> int | None:
    """The next rate to try, or None when the search is over."""
    if fail is None:
        return None if best is None or best >= max_rate else min(2 * best, max_rate)
    low = best or 0
    if fail - low <= max(1, precision * max(low, 1)):
        return None
    nxt = (low + fail) // 2
    return nxt if nxt > low else None


def measure_rates(args: argparse.Namespace, root: Path) -> dict[str, object]:
    """The rate search for the reference and each selected direction."""
    subjects: list[tuple[str, Callable[[int, Path], Step]]] = [
        ("reference", lambda r, d: step_uac_against("reference", r, args, d))]
    if "serve" in args.directions:
        subjects.append(("serve", lambda r, d: step_uac_against("serve", r, args, d)))
    if "call" in args.directions:
        subjects.append(("call", lambda r, d: step_call(r, args, d)))
    t0 = time.monotonic()
    out: dict[str, object] = {}
    for index, (name, fn) in enumerate(subjects):
        share = (args.budget_seconds - (time.monotonic() - t0)) / (len(subjects) - index)
        run_step = logged_steps(name, fn, root)
        out[name] = search(run_step, args.start_rate, args.max_rate, args.precision, share,
                           args.step_seconds + 4)
    ref = out["reference"]["max_sustained_cps"]  # type: ignore[index]
    for name in ("serve", "call"):
        if name in out:
            mine = out[name]["max_sustained_cps"]  # type: ignore[index]
            out[name]["ratio_vs_reference"] = ratio(mine, ref)  # type: ignore[index]
    return out


def logged_steps(name: str, fn: Callable[[int, Path], Step], root: Path) -> Callable[[int], Step]:
    """``fn`` run in a folder of its own per step, each result logged to stderr."""
    counter = itertools.count()

    def run_step(rate: int) -> Step:
        step = fn(rate, root / f"{name}-{next(counter)}-{rate}")
        print(f"bench_calls: {name} {rate}/s -> {step.achieved_cps}/s, "
              f"{step.failed} failed, {'sustained' if step.sustained else 'NOT sustained'}",
              file=sys.stderr)
        return step

    return run_step


def ratio(mine: float | None, ref: float | None) -> float | None:
    """sipflow / sipp, rounded; None when either is missing or the reference is 0."""
    return round(mine / ref, 3) if mine is not None and ref else None


# --------------------------------------------------------------------------- concurrent, soak


def hold_calls(target: str, n: int, hold_ms: int, args: argparse.Namespace,
               workdir: Path) -> dict[str, object]:
    """Hold ``n`` established calls against a fresh ``target``; RSS per call."""
    ramp_s = n / args.concurrent_rate
    limit = ramp_s + hold_ms / 1000 + 60
    stop_target, pid, port = start_target(target, workdir, limit)
    time.sleep(1.0)
    idle = read_rss_kib(pid)
    sampler = Sampler(pid, args.sample_interval).start()
    uac_dir = workdir / "uac"
    uac_dir.mkdir(parents=True, exist_ok=True)
    uac = SippRun(sipp_uac_args(port, args.concurrent_rate, n, limit, "-l", str(n),
                                "-d", str(hold_ms)), uac_dir, timeout=limit + 10)
    note = drive_uac(uac, sampler, stop_target)
    # the RSS while sipp had the most calls up (its -fd 1 rows: one a second)
    top = plateau(sipp_rows(uac_dir))
    held, held_first, peak, after, linger = None, None, 0, None, None
    if top is not None:
        peak, first, last = top
        sample = sampler.last_between_epochs(first - 0.5, last + 0.5 if last == first else last)
        if sample is not None:
            after = round(sample[0] - first, 1)  # the last call was set up when the peak was reached
            held, linger = sample[1], after < LINGER_S
        held_first = sampler.rss_between_epochs(first - 0.5, first + 0.5)
    stats = uac.stats()
    result: dict[str, object] = {
        "calls": n, "hold_ms": hold_ms, "calls_up_peak": peak,
        "rss_kib_idle": idle, "rss_kib_held": held, "rss_kib_held_first": held_first,
        "sample_s_after_last_setup": after, "transactions_linger_at_sample": linger,
        "rss_kib_max": sampler.summary()["rss_kib_max"], "cpu_percent": sampler.cpu_percent,
        "successful": int(stats.get("SuccessfulCall(C)", 0) or 0),
        "failed": int(stats.get("FailedCall(C)", 0) or 0),
        "bytes_per_call": round((held - idle) * 1024 / peak) if held and idle and peak else None}
    if note:
        result["note"] = note
    if held is None:
        result["note"] = "no RSS sample at sipp's peak of calls up: make --hold-ms longer"
    return result


def measure_concurrent(args: argparse.Namespace, root: Path) -> dict[str, object]:
    """``--concurrent N`` for ``sipflow serve`` and for sipp's own UAS."""
    n = args.concurrent
    hold_ms = args.hold_ms or int((2 * n / args.concurrent_rate + 10) * 1000)
    out = {"serve": hold_calls("serve", n, hold_ms, args, root / f"concurrent-serve-{n}"),
           "reference": hold_calls("reference", n, hold_ms, args, root / f"concurrent-sipp-{n}")}
    out["ratio_bytes_per_call"] = ratio(out["serve"]["bytes_per_call"],  # type: ignore[arg-type]
                                        out["reference"]["bytes_per_call"])  # type: ignore[arg-type]
    return out


def measure_soak(args: argparse.Namespace, rate: int, root: Path) -> dict[str, object]:
    """``rate`` calls/s to one ``sipflow serve`` for ``--soak`` seconds; RSS growth."""
    seconds = args.soak
    limit = seconds * 2 + 60
    server = start_serve(root / "soak" / "serve")
    sampler = Sampler(server.process.pid, args.sample_interval).start()  # type: ignore[union-attr]
    uac_dir = root / "soak" / "uac"
    uac_dir.mkdir(parents=True, exist_ok=True)
    uac = SippRun(sipp_uac_args(server.ports["udp"], rate, round(rate * seconds), limit),
                  uac_dir, timeout=limit + 10)
    note = drive_uac(uac, sampler, lambda: _stop_serve(server))
    # warm-up: past the 32 s that finished transactions linger on UDP (Timers J, K, L, M)
    warmup = min(max(0.1 * seconds, WARMUP_S), seconds / 2)
    warm = sampler.rss_between(warmup, warmup + 2 * args.sample_interval + 0.5)
    end = sampler.summary()["rss_kib_last"]
    series = {f"{t:g}": sampler.rss_between(t - 2 * args.sample_interval - 0.5, t)
              for t in soak_marks(seconds)}
    try:
        fig: dict[str, object] = dict(sipp_figures(uac.stats()))
    except ValueError as exc:
        fig, note = {}, str(exc)
    result: dict[str, object] = {
        "rate": rate, "seconds": seconds, **fig, "warmup_s": warmup, "rss_kib_after_warmup": warm,
        "rss_kib_every_10s": series,
        "rss_kib_end": end, "rss_kib_max": sampler.summary()["rss_kib_max"],
        "rss_growth_kib": end - warm if isinstance(end, int) and warm else None,
        "rss_growth_kib_per_10k_calls": growth_per_10k(warm, end, rate, seconds - warmup),
        "cpu_percent": sampler.cpu_percent}
    if note:
        result["note"] = note
    return result


def soak_marks(seconds: float) -> list[float]:
    """When the soak's RSS series is read: every 10 s (every tenth of a run shorter than 100 s)."""
    step = 10.0 if seconds >= 100 else seconds / 10
    return [round(step * k, 3) for k in range(1, int(seconds / step + 1e-9) + 1)]


def growth_per_10k(warm: int | None, end: object, rate: int, seconds: float) -> float | None:
    """KiB of RSS grown per 10,000 calls offered after the warm-up (None without figures)."""
    calls = rate * seconds
    if not isinstance(end, int) or not warm or calls <= 0:
        return None
    return round((end - warm) * 10_000 / calls, 1)


# --------------------------------------------------------------------------- main


def summary(result: dict[str, object]) -> str:
    """The one-line summary of a run."""
    parts: list[str] = []
    rates = result.get("rates")
    if isinstance(rates, dict):
        ref = rates["reference"]["max_sustained_cps"]
        parts.append(f"sipp uas {ref} calls/s")
        for name, label in (("serve", "serve"), ("call", "call")):
            if name in rates:
                r = rates[name]
                parts.append(f"{label} {r['max_sustained_cps']} calls/s "
                             f"(x{r['ratio_vs_reference']} vs sipp)")
    conc = result.get("concurrent")
    if isinstance(conc, dict):
        s, r = conc["serve"], conc["reference"]
        linger = {True: "finished transactions still lingering", False: "no finished transaction "
                  "lingering", None: "lingering unknown"}[s.get("transactions_linger_at_sample")]
        parts.append(f"{s['calls']} held: serve {s['bytes_per_call']} B/call "
                     f"({s.get('sample_s_after_last_setup')} s after the last set-up, {linger}), "
                     f"sipp {r['bytes_per_call']} B/call (x{conc['ratio_bytes_per_call']})")
    soak = result.get("soak")
    if isinstance(soak, dict):
        parts.append(f"soak {soak['seconds']} s at {soak['rate']}/s: RSS "
                     f"{soak['rss_kib_after_warmup']} -> {soak['rss_kib_end']} KiB "
                     f"({soak.get('rss_growth_kib_per_10k_calls')} KiB per 10k calls after "
                     f"{soak.get('warmup_s')} s)")
    return "bench_calls: " + "; ".join(parts)


def run(args: argparse.Namespace) -> dict[str, object]:
    """Run the selected measurements in a temporary folder; the JSON result."""
    result: dict[str, object] = {
        "benchmark": "bench_calls", "python": platform.python_version(),
        "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
        "sipp": subprocess.run(["sipp", "-v"], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL).stdout.strip().splitlines()[0:1],
        "options": {k: v for k, v in vars(args).items() if k != "out"},
        "sustain_rule": f"0 failed, all completed, completed/elapsed >= {SUSTAIN} x offered"}
    with tempfile.TemporaryDirectory(prefix="bench_calls-") as tmp:
        root = Path(tmp)
        if args.rate_search:
            result["rates"] = measure_rates(args, root)
        if args.concurrent:
            result["concurrent"] = measure_concurrent(args, root)
        if args.soak:
            rate = args.soak_rate
            if rate is None:
                found = result.get("rates", {}).get("serve", {}).get("max_sustained_cps")  # type: ignore[union-attr]
                rate = max(1, found // 2) if found else None
            if rate is None:
                result["soak"] = {"seconds": args.soak, "rate": None,
                                  "rss_kib_after_warmup": None, "rss_kib_end": None,
                                  "note": "no serve rate found and no --soak-rate given"}
            else:
                result["soak"] = measure_soak(args, rate, root)
    return result


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _directions(text: str) -> list[str]:
    names = [d.strip() for d in text.split(",") if d.strip()]
    bad = [d for d in names if d not in ("serve", "call")]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown direction(s) {', '.join(bad)}; known: serve, call")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--step-seconds", type=float, default=10.0,
                        help="seconds of calls per rate step (default: 10)")
    parser.add_argument("--start-rate", type=int, default=100, help="first rate tried (calls/s)")
    parser.add_argument("--max-rate", type=int, default=8000, help="highest rate tried (calls/s)")
    parser.add_argument("--precision", type=float, default=0.05,
                        help="stop bisecting when the bracket is this fraction wide (default: 0.05)")
    parser.add_argument("--budget-seconds", type=float, default=480.0,
                        help="total time for the rate searches (default: 480)")
    parser.add_argument("--directions", type=_directions, default=["serve", "call"],
                        help="comma-separated: serve (sipp -> sipflow serve), call (sipflow call -> sipp)")
    parser.add_argument("--no-rate-search", dest="rate_search", action="store_false",
                        help="skip the rate search (e.g. with only --concurrent)")
    parser.add_argument("--concurrent", type=int, default=0, metavar="N",
                        help="also hold N established calls and report RSS per call")
    parser.add_argument("--concurrent-rate", type=int, default=1000,
                        help="call rate while building up --concurrent calls (default: 1000)")
    parser.add_argument("--hold-ms", type=int, default=0,
                        help="how long each held call lasts (default: 2 x ramp + 10 s)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help="also offer half the max serve rate for SECONDS and report RSS growth")
    parser.add_argument("--soak-rate", type=int, default=None,
                        help="the soak rate (default: half the max serve rate found)")
    parser.add_argument("--sample-interval", type=float, default=0.5,
                        help="seconds between RSS samples (default: 0.5)")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="pass ARG to every sipflow serve started (repeatable; e.g. "
                             "--serve-arg=--overload-lag-ms=0 to measure without overload control)")
    parser.add_argument("--sipp-buffer", type=int, default=4 * 1024 * 1024, metavar="BYTES",
                        help="sipp's -buff_size for every sipp started (default: 4 MiB, as serve's "
                             "receive buffer; 0: sipp's own 64 KiB, which drops calls above "
                             "~3,000/s)")
    args = parser.parse_args(argv)
    SERVE_ARGS[:] = args.serve_arg
    SIPP_BUFFER[:] = ["-buff_size", str(args.sipp_buffer)] if args.sipp_buffer else []
    if min(args.step_seconds, args.start_rate, args.max_rate, args.budget_seconds,
           args.concurrent_rate, args.sample_interval, args.precision) <= 0:
        parser.error("--step-seconds, --start-rate, --max-rate, --budget-seconds, "
                     "--concurrent-rate, --sample-interval and --precision must be positive")
    if (args.concurrent < 0 or args.soak < 0 or args.hold_ms < 0 or (args.soak_rate or 1) < 1
            or args.sipp_buffer < 0):
        parser.error("--concurrent, --soak, --hold-ms, --soak-rate and --sipp-buffer may not be "
                     "negative")
    if args.start_rate > args.max_rate:
        parser.error(f"--start-rate {args.start_rate} is above --max-rate {args.max_rate}")
    if not (args.rate_search or args.concurrent or args.soak):
        parser.error("nothing to measure: --no-rate-search without --concurrent or --soak")
    if args.hold_ms and args.concurrent and args.hold_ms / 1000 <= args.concurrent / args.concurrent_rate + 2:
        parser.error(f"--hold-ms {args.hold_ms} is shorter than the ramp of {args.concurrent} calls "
                     f"at {args.concurrent_rate}/s plus 2 s: no moment would have every call up")
    if shutil.which("sipp") is None:
        print("bench_calls: sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)  # so every finally: stops its peers by PID
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("bench_calls: interrupted; every peer started was stopped", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, AssertionError) as exc:
        print(f"bench_calls: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    line = summary(result)
    if args.out:
        try:
            Path(args.out).write_text(text + "\n")
        except OSError as exc:
            print(f"bench_calls: cannot write --out {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        print(line)
    else:
        print(text)
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
