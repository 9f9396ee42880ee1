"""The sipp scenarios of ``tests/interop/scenarios/`` are valid: they parse, follow our rules, and pass against sipp.

Rules for a scenario (and for its peer in ``tests/interop/peers/``):

* well-formed XML with a ``<scenario name=…>`` root, opened by a comment; a scenario's
  comment says which role sipflow plays and which table rows it exercises;
* bounded: every ``<recv>`` has a ``timeout``; every ``next``/``ontimeout`` names a label;
* every variable a check stores is used, and every ``[$var]`` used is stored (sipp
  refuses to load otherwise; here the error names the file);
* a ``<send retrans=…>`` is followed by a ``<recv>``: sipp does not move on to another
  send while it retransmits one;
* nothing follows the last message (no ``<pause>`` or ``<nop>``): over TCP, the peer that
  finishes first closes the connection, and sipp fails a call that is still pausing;
* ``Content-Length: [len]`` when a message has a body, ``Content-Length: 0`` otherwise;
  SDP names addresses with ``[media_ip]``, never ``[local_ip]`` (``[::1]`` over IPv6);
* the events, actions, guards and state timers a header names exist in sipflow's registry
  and shipped tables, and each ``State/Event`` it names is a row of the table sipflow
  plays (``uas_call`` for a ``uac_*`` scenario, ``uac_call`` for a ``uas_*`` one, with
  their fragments; ``Any`` covers every state but the final ones): the headers must not
  drift from the code.

Theory of operation: each scenario has a counterpart with the same file name in
``peers/`` that plays sipflow's role with sipp itself (a ``uac_*`` scenario is the caller,
so its peer answers; a ``uas_*`` scenario answers, so its peer calls). The pair runs on
127.0.0.1 with ports of their own, over UDP and TCP, bounded in calls and time, and both
sipp processes must exit 0 with every call successful. Variants ``peers/NAME+WHAT.xml``
act out a lost message (a PRACK's 200, an ACK) or a retransmitted request, which the
scenario must survive (over UDP). Then a few peers are broken on purpose (a method missing
from Allow, a reliable 180 without Require, a wrong RAck, an ACK on a new branch, a hold
answered sendrecv) and the scenario must fail: its checks really check. These tests never
start sipflow; the tests against sipflow use the same files.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from .sipp_harness import SCENARIOS, SippRun, free_port

PEERS = Path(__file__).parent / "peers"
README = SCENARIOS / "README.md"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.xml"))
ALL_FILES = sorted(SCENARIOS.glob("*.xml")) + sorted(PEERS.glob("*.xml"))
PAIRS = [(p.stem.partition("+")[0], p) for p in sorted(PEERS.glob("*.xml"))]
"""(scenario name, peer): ``peers/NAME.xml`` and variants ``peers/NAME+WHAT.xml`` (a peer that
acts out a fault the scenario must survive, such as a lost response)."""
CALLS = 2
MESSAGE_TAGS = {"send", "recv", "nop", "pause"}
SCENARIO_HEADER = ("Roles:", "sipflow is the", "Flow:", "Table rows exercised", "Checks:", "Bounded:")


def parse(path: Path) -> ET.Element:
    """The scenario's root element."""
    try:
        return ET.fromstring(path.read_bytes())
    except ET.ParseError as err:
        pytest.fail(f"{path.name}: not well-formed XML: {err}")


def steps(root: ET.Element) -> list[ET.Element]:
    """The elements sipp executes or jumps to, in order (messages, pauses, nops, labels)."""
    return [el for el in root if el.tag in MESSAGE_TAGS or el.tag == "label"]


def stored_variables(root: ET.Element) -> set[str]:
    names: set[str] = set()
    for el in root.iter():
        for name in el.get("assign_to", "").split(","):
            if name.strip():
                names.add(name.strip())
    return names


def used_variables(root: ET.Element) -> set[str]:
    names: set[str] = set()
    for el in root.iter():
        names.update(re.findall(r"\[\$([\w-]+)\]", el.text or ""))
        names.update(re.findall(r"\[\$([\w-]+)\]", el.get("value", "")))
        for attr in ("variable", "variable2", "test"):
            if el.get(attr):
                names.add(el.get(attr, ""))
        if el.tag == "Reference":
            names.update(v.strip() for v in el.get("variables", "").split(",") if v.strip())
    return names


def sip_messages(root: ET.Element) -> list[str]:
    """The text of every ``<send>``, as sipp sends it: lines stripped, blank edges removed."""
    out = []
    for el in root.iter("send"):
        lines = [ln.strip() for ln in (el.text or "").splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        out.append("\n".join(lines))
    return out


# -- static checks ----------------------------------------------------------------------------

def test_every_scenario_has_a_peer_and_a_readme_entry() -> None:
    assert NAMES, "no scenario in tests/interop/scenarios"
    peers = sorted({name for name, _peer in PAIRS})
    assert peers == NAMES, f"scenarios without a peer: {set(NAMES) - set(peers)}; " \
                           f"peers without a scenario: {set(peers) - set(NAMES)}"
    missing = [name for name in NAMES if not (PEERS / f"{name}.xml").exists()]
    assert not missing, f"scenarios without a peer of the same name: {missing}"
    readme = README.read_text()
    for name in NAMES:
        assert f"-sf scenarios/{name}.xml" in readme, f"README.md gives no command line for {name}.xml"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_follows_the_rules(path: Path) -> None:
    root = parse(path)
    where = f"{path.parent.name}/{path.name}"
    assert root.tag == "scenario" and root.get("name"), f"{where}: root must be <scenario name=...>"
    opening = re.match(r"\s*<\?xml[^>]*\?>\s*<!--(.*?)-->\s*<scenario", path.read_text(), re.S)
    assert opening, f"{where}: must open with a comment before <scenario>"
    header = opening.group(1)
    if path.parent == SCENARIOS:
        assert header.strip().startswith(f"{path.name}:"), f"{where}: the comment starts with the file name"
        missing = [word for word in SCENARIO_HEADER if word not in header]
        assert not missing, f"{where}: the header comment lacks {missing}"
    else:
        scenario = path.stem.partition("+")[0]
        assert f"validates scenarios/{scenario}.xml" in header, f"{where}: say which scenario it validates"

    flow = steps(root)
    labels = {el.get("id") for el in flow if el.tag == "label"}
    for index, el in enumerate(flow):
        if el.tag == "recv":
            assert el.get("timeout", "").isdigit(), f"{where}: step {index} <recv> has no timeout"
        for attr in ("next", "ontimeout"):
            target = el.get(attr)
            assert target is None or target in labels, f"{where}: {attr}={target!r} names no label"
        if el.tag == "send" and el.get("retrans"):
            following = next((f for f in flow[index + 1:] if f.tag in MESSAGE_TAGS), None)
            assert following is not None and following.tag == "recv", \
                f"{where}: step {index} is retransmitted but not followed by a <recv>"

    messages = [el for el in flow if el.tag in MESSAGE_TAGS]
    assert messages and messages[-1].tag in {"send", "recv"}, \
        f"{where}: a <{messages[-1].tag}> follows the last message (TCP close race)"

    stored, used = stored_variables(root), used_variables(root)
    assert not stored - used, f"{where}: variables stored but never used: {sorted(stored - used)}"
    assert not used - stored, f"{where}: variables used but never stored: {sorted(used - stored)}"

    for text in sip_messages(root):
        head, _, body = text.partition("\n\n")
        first_line = head.splitlines()[0]
        lengths = re.findall(r"^Content-Length: *(.*)$", head, re.M)
        assert len(lengths) == 1, f"{where}: {first_line!r} needs exactly one Content-Length"
        expected = "[len]" if body.strip() else "0"
        assert lengths[0] == expected, f"{where}: {first_line!r} has Content-Length {lengths[0]}, wants {expected}"
        assert "[local_ip]" not in body, \
            f"{where}: {first_line!r} puts [local_ip] in SDP (bracketed over IPv6); use [media_ip]"


def shipped_timer_events() -> set[str]:
    """``Timer<Name>`` for every state timer declared in the shipped tables."""
    names: set[str] = set()
    yaml = YAML(typ="safe")
    for entry in resources.files("sipflow.state_tables").iterdir():
        if entry.name.endswith(".yaml"):
            table = yaml.load(entry.read_text())
            for state in (table.get("states") or {}).values():
                names.update(f"Timer{name}" for name in ((state or {}).get("timers") or {}))
    return names


def table_rows(table: str) -> set[tuple[str, str]]:
    """(state, event) of every row of a shipped table and its fragments; ``Any`` expanded."""
    yaml = YAML(typ="safe")
    root = resources.files("sipflow.state_tables")
    data = yaml.load(root.joinpath(f"{table}.yaml").read_text())
    transitions = list(data.get("transitions") or [])
    for fragment in data.get("include") or []:
        transitions += yaml.load(root.joinpath("fragments", f"{fragment}.yaml").read_text()).get("transitions") or []
    states = data.get("states") or {}
    live = [name for name, spec in states.items() if not (spec or {}).get("final")]
    pairs: set[tuple[str, str]] = set()
    for row in transitions:
        sources = [row["from"]] if isinstance(row["from"], str) else row["from"]
        for source in sources:
            for state in (live + ["Any"] if source == "Any" else [source]):
                pairs.add((state, row["on"]))
    return pairs


def header_of(path: Path) -> str:
    found = re.match(r"\s*<\?xml[^>]*\?>\s*<!--(.*?)-->", path.read_text(), re.S)
    return found.group(1) if found else ""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.xml")), ids=lambda p: p.name)
def test_header_names_exist_in_sipflow(path: Path) -> None:
    from sipflow.runtime.builtins import default_registry  # here: the sipp tests need no sipflow

    registry = default_registry()
    timers = shipped_timer_events()
    header = header_of(path)
    section = header[header.index("Table rows exercised"):header.index("Checks:")]
    unknown = []
    for name in re.findall(r"\b(Dialog[0-9A-Za-z]+|Send[A-Z][A-Za-z]*|Timer[A-Z][A-Za-z]*)\b", section):
        known = (name in timers if name.startswith("Timer")
                 else name in registry.actions if name.startswith("Send") else name in registry.events)
        if not known:
            unknown.append(name)
    for guard in re.findall(r"the (\w+) guard|\{(\w+): \w+\}", section):
        name = guard[0] or guard[1]
        if name not in registry.guards:
            unknown.append(name)
    assert not unknown, f"{path.name}: the header names what sipflow does not know: {unknown}"

    table = "uas_call" if path.name.startswith("uac_") else "uac_call"
    rows = table_rows(table)
    named = re.findall(r"\b([A-Z][A-Za-z]+)/([A-Z][A-Za-z0-9]+)\b", section)
    assert named, f"{path.name}: the header names no State/Event row of {table}"
    missing = [f"{state}/{event}" for state, event in named if (state, event) not in rows]
    assert not missing, f"{path.name}: {table} has no row for {missing}; update the header (or the table)"


# -- running each scenario against its peer ---------------------------------------------------

def wait_bound(host: str, port: int, kind: int, timeout: float = 5.0) -> None:
    """Wait until something holds ``host:port`` (our own bind fails), without talking to it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(family, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"sipp did not bind {host} port {port} within {timeout} s")


def sipp_args(xml: Path, host: str, port: int, transport: str, calls: int) -> list[str]:
    return ["-sf", str(xml), "-t", "t1" if transport == "tcp" else "u1", "-i", host,
            "-p", str(port), "-m", str(calls), "-timeout", "20s", "-timeout_error",
            "-trace_stat", "-fd", "1", "-trace_err"]


def run_pair(tmp_path: Path, scenario: Path, peer: Path, transport: str = "udp",
             calls: int = CALLS, wait_peer: bool = True, host: str = "127.0.0.1") -> tuple[SippRun, SippRun]:
    """Run ``scenario`` against ``peer``; returns (scenario run, peer run), both finished or stopped.

    A ``uac_*`` scenario is the caller (its peer listens), a ``uas_*`` scenario listens.
    The scenario's sipp is waited for first; the peer's then too, or, with ``wait_peer``
    false (the peer is broken and may wait for what never comes), stopped by its PID.
    """
    scenario_listens = scenario.stem.startswith("uas_")
    server_xml, client_xml = (scenario, peer) if scenario_listens else (peer, scenario)
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    server_port, client_port = free_port(kind, host), free_port(kind, host)
    target = f"[{host}]:{server_port}" if ":" in host else f"{host}:{server_port}"
    (tmp_path / "server").mkdir()
    (tmp_path / "client").mkdir()
    server = SippRun(sipp_args(server_xml, host, server_port, transport, calls), tmp_path / "server", timeout=25)
    client = SippRun([*sipp_args(client_xml, host, client_port, transport, calls), "-r", "10", target],
                     tmp_path / "client", timeout=25)
    scenario_run, peer_run = (server, client) if scenario_listens else (client, server)
    with server:
        wait_bound(host, server_port, kind)
        with client:
            scenario_run.wait()
            if wait_peer:
                peer_run.wait()
            else:
                peer_run.stop()
    return scenario_run, peer_run


def diagnosis(run: SippRun) -> str:
    """What sipp said about a run: its ``-trace_err`` log (why calls failed), then the screen's tail."""
    errors = "".join(p.read_text(errors="replace") for p in sorted(run.workdir.glob("*_errors.log")))
    return f"{' '.join(run.args)}\n{errors[-3000:]}\n{run.output()[-1500:]}"


def calls_counted(run: SippRun) -> tuple[str, str]:
    stats = run.stats()
    return stats.get("SuccessfulCall(C)", "?"), stats.get("FailedCall(C)", "?")


RUNS = [(name, peer, transport) for name, peer in PAIRS for transport in ("udp", "tcp")
        if transport == "udp" or "+" not in peer.stem]
"""Every pair over UDP and TCP; a variant (a lost message acted out) over UDP only."""


@pytest.mark.interop(method="INVITE", role="harness")
@pytest.mark.parametrize(("name", "peer", "transport"), RUNS, ids=[f"{p.stem}-{t}" for _n, p, t in RUNS])
def test_scenario_passes_against_its_peer(tmp_path: Path, name: str, peer: Path, transport: str) -> None:
    scenario_run, peer_run = run_pair(tmp_path, SCENARIOS / f"{name}.xml", peer, transport)
    assert scenario_run.returncode == 0, diagnosis(scenario_run)
    assert peer_run.returncode == 0, diagnosis(peer_run)
    assert calls_counted(scenario_run) == (str(CALLS), "0"), diagnosis(scenario_run)
    assert calls_counted(peer_run) == (str(CALLS), "0"), diagnosis(peer_run)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.interop(method="INVITE", role="harness")
@pytest.mark.parametrize("name", ["uac_hold_resume", "uac_100rel", "uas_reinvite_update_info"])
def test_scenario_passes_over_ipv6(tmp_path: Path, name: str) -> None:
    """Addresses in SIP are bracketed ([::1]), in SDP they are not: a few scenarios over ::1."""
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this host")
    scenario_run, peer_run = run_pair(tmp_path, SCENARIOS / f"{name}.xml", PEERS / f"{name}.xml", host="::1")
    assert scenario_run.returncode == 0, diagnosis(scenario_run)
    assert peer_run.returncode == 0, diagnosis(peer_run)
    assert calls_counted(scenario_run) == (str(CALLS), "0"), diagnosis(scenario_run)


BROKEN_PEERS = [
    # (scenario, text in the peer, replacement, what the scenario must notice)
    ("uac_options", "Allow: OPTIONS, INFO, PRACK, UPDATE", "Allow: OPTIONS, INFO, UPDATE", "PRACK missing from Allow"),
    ("uac_100rel", "      Require: 100rel\n", "", "a 180 with RSeq but no Require"),
    ("uac_hold_resume", "      a=recvonly\n", "      a=sendrecv\n", "hold answered sendrecv"),
    ("uas_100rel", "RAck: [$rseq] 101 INVITE", "RAck: [$rseq] 100 INVITE", "RAck naming another CSeq"),
    ("uas_busy", "      [last_Via:]\n      From: peer",
     "      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n      From: peer",
     "ACK of a 486 on a new branch"),
    ("uas_reinvite_update_info", "      a=recvonly\n", "      a=sendrecv\n", "hold answered sendrecv"),
    ("uac_update", "      m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000\n      a=sendrecv\n",
     "      a=sendrecv\n", "an UPDATE answered without m= line"),
    ("uac_cancel", "SIP/2.0 487 Request Terminated", "SIP/2.0 486 Busy Here", "486 instead of 487 after CANCEL"),
]


@pytest.mark.interop(method="INVITE", role="harness")
@pytest.mark.parametrize(("name", "old", "new", "fault"), BROKEN_PEERS, ids=[f"{b[0]}: {b[3]}" for b in BROKEN_PEERS])
def test_scenario_fails_against_a_broken_peer(tmp_path: Path, name: str, old: str, new: str, fault: str) -> None:
    text = (PEERS / f"{name}.xml").read_text()
    assert text.count(old) == 1, f"peers/{name}.xml changed: fix this test's mutation"
    broken = tmp_path / f"{name}.xml"
    broken.write_text(text.replace(old, new))
    scenario_run, _peer_run = run_pair(tmp_path, SCENARIOS / f"{name}.xml", broken, calls=1, wait_peer=False)
    assert scenario_run.returncode != 0, f"{name}.xml passed against a peer with {fault}"
    assert calls_counted(scenario_run) == ("0", "1"), diagnosis(scenario_run)
