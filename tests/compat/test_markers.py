"""The interop marker reader: markers are read from source with ast, never imported."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.compat_markers import collect_markers, find_interop_dir, read_markers

SOURCE = '''
import pytest
from pytest import mark

pytestmark = [pytest.mark.slow, pytest.mark.interop(method="OPTIONS", role="uac")]

raise SystemExit("this module must never be imported by compat")


@pytest.mark.interop(method="update", role="UAS")
def test_update_uas():
    pass


@mark.interop("PRACK", "uac")
async def test_prack_positional():
    pass


@pytest.mark.parametrize("x", [1, pytest.param(2, marks=pytest.mark.interop(method="INFO", role="uas"))])
def test_info_param(x):
    pass


@pytest.mark.interop(method="INVITE", role="harness")
def test_tooling():
    pass


@pytest.mark.interop(method=METHOD, role="uas")
def test_not_literal():
    pass


@pytest.mark.interop(method="BYE", role="uas")
def helper_not_a_test():
    pass


@pytest.mark.interop(method="CANCEL", role="uac")
class TestCancel:
    pytestmark = pytest.mark.interop(method="ACK", role="uac")

    def test_one(self):
        pass
'''


def test_every_marker_form_is_read_with_its_test_and_line():
    scan = read_markers(SOURCE, "tests/interop/test_example.py")
    found = {(m.test, m.method, m.role) for m in scan.markers}
    assert ("test_update_uas", "UPDATE", "uas") in found        # upper-cased method, lower-cased role
    assert ("test_prack_positional", "PRACK", "uac") in found   # positional arguments, async def
    assert ("test_info_param", "INFO", "uas") in found          # inside pytest.param(marks=...)
    assert ("test_tooling", "INVITE", "harness") in found
    assert ("TestCancel::test_one", "CANCEL", "uac") in found   # class decorator
    assert ("TestCancel::test_one", "ACK", "uac") in found      # class pytestmark
    # the module's pytestmark reaches every test
    assert {t for t, m, _ in found if m == "OPTIONS"} == {
        "test_update_uas", "test_prack_positional", "test_info_param", "test_tooling",
        "test_not_literal", "TestCancel::test_one"}
    assert not any(t == "helper_not_a_test" for t, _, _ in found)
    update = next(m for m in scan.markers if m.test == "test_update_uas")
    assert update.where == "tests/interop/test_example.py::test_update_uas"
    assert SOURCE.splitlines()[update.line - 1] == "def test_update_uas():"


def test_harness_role_does_not_count():
    scan = read_markers(SOURCE, "t.py")
    counting = {m.test for m in scan.markers if m.counts and m.method == "INVITE"}
    assert counting == set()
    assert any(m.counts for m in scan.markers if m.method == "UPDATE")


def test_a_marker_that_needs_running_code_is_a_problem_naming_file_and_line():
    scan = read_markers(SOURCE, "tests/interop/test_example.py")
    line = next(i for i, text in enumerate(SOURCE.splitlines(), 1) if "method=METHOD" in text)
    assert scan.problems == [
        f"tests/interop/test_example.py:{line}: interop marker of test_not_literal needs "
        'method="..." and role="..." as string literals']


def test_a_file_that_does_not_parse_is_a_problem_not_a_crash():
    scan = read_markers("def test_x(:\n    pass\n", "tests/interop/test_bad.py")
    assert scan.markers == []
    assert len(scan.problems) == 1 and scan.problems[0].startswith("tests/interop/test_bad.py:1: ")


def test_collect_reads_a_folder_in_name_order(tmp_path: Path):
    folder = tmp_path / "tests" / "interop"
    folder.mkdir(parents=True)
    (folder / "test_b.py").write_text(
        'import pytest\n\n@pytest.mark.interop(method="BYE", role="uas")\ndef test_bye():\n    pass\n')
    (folder / "test_a.py").write_text(
        'import pytest\n\n@pytest.mark.interop(method="UPDATE", role="uac")\ndef test_up():\n    pass\n')
    (folder / "notes.txt").write_text('@pytest.mark.interop(method="INFO", role="uas")')
    (folder / "test_latin1.py").write_bytes(b"# \xff\xfe not utf-8\n")
    scan = collect_markers(folder)
    assert [(m.file, m.method, m.line) for m in scan.markers] == [
        ("tests/interop/test_a.py", "UPDATE", 4), ("tests/interop/test_b.py", "BYE", 4)]
    assert len(scan.problems) == 1 and "test_latin1.py: cannot read" in scan.problems[0]


def test_the_tests_folder_is_found_only_in_a_checkout(tmp_path: Path):
    engine = tmp_path / "engine"
    engine.mkdir()
    (tmp_path / "tests" / "interop").mkdir(parents=True)
    assert find_interop_dir(engine) is None               # no pyproject.toml: not a checkout
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'sipflow'\n")
    assert find_interop_dir(engine) == (tmp_path / "tests" / "interop").resolve()
    wheel = tmp_path / "site-packages" / "sipflow"        # an installed wheel
    wheel.mkdir(parents=True)
    assert find_interop_dir(wheel) is None


def test_this_checkout_has_its_interop_folder():
    found = find_interop_dir()
    assert found is not None and (found / "test_sipp_harness.py").is_file()


def test_the_live_harness_marker_is_read_but_does_not_count():
    from sipflow.compat import live_markers

    scan = live_markers()
    assert scan is not None
    assert all(m.file.startswith("tests/interop/") for m in scan.markers)
    harness = [m for m in scan.markers if m.role == "harness"]
    assert harness, "tests/interop/test_sipp_harness.py carries a harness marker"
    assert not any(m.counts for m in harness)


_WORD = st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=10)


@given(method=_WORD, role=_WORD, positional=st.booleans(), asynchronous=st.booleans())
@settings(max_examples=60, deadline=None)
def test_any_literal_marker_reads_back(method, role, positional, asynchronous):
    args = f'"{method}", "{role}"' if positional else f'role="{role}", method="{method}"'
    source = (f"import pytest\n\n@pytest.mark.interop({args})\n"
              f"{'async ' if asynchronous else ''}def test_generated():\n    pass\n")
    scan = read_markers(source, "t.py")
    assert scan.problems == []
    assert [(m.method, m.role, m.test, m.line) for m in scan.markers] == [
        (method.upper(), role.lower(), "test_generated", 4)]
