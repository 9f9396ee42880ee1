"""``python -m sipflow``: the same as the ``sipflow`` command."""

from sipflow.cli.main import run

run()
