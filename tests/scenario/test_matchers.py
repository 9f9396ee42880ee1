"""Matchers: exact, regex (found anywhere), absent, present, exact: prefix, numbers; bad ones refused."""

from __future__ import annotations

import pytest

from sipflow.scenario.matchers import MatcherError, build_matcher


@pytest.mark.parametrize(("written", "value", "matches"), [
    ("application/sdp", "application/sdp", True),
    ("application/sdp", " application/sdp ", True),
    ("application/sdp", "application/sdp;charset=x", False),
    ("application/sdp", None, False),
    ("regex:tag=", "<sip:a@b>;tag=x", True),
    ("regex:^70$", "70", True),
    ("regex:^70$", "700", False),
    ("regex:x", None, False),
    ("absent", None, True),
    ("absent", "", False),
    ("present", "", True),
    ("present", None, False),
    ("exact:absent", "absent", True),
    ("exact:absent", None, False),
    ("exact:regex:x", "regex:x", True),
    (70, "70", True),
    (70, "71", False),
    (True, "true", True),
])
def test_matching(written, value, matches) -> None:
    assert build_matcher(written).match(value) is matches


def test_text_forms() -> None:
    assert str(build_matcher("regex:a+")) == "regex:a+"
    assert str(build_matcher("absent")) == "absent"
    assert str(build_matcher("x")) == "'x'"


@pytest.mark.parametrize("bad", ["regex:(", "regex:[a-", ["a"], {"a": 1}, None])
def test_bad_matchers_are_refused(bad) -> None:
    with pytest.raises(MatcherError):
        build_matcher(bad)
