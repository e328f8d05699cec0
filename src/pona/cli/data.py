"""Dataset commands (the ``data`` group)."""

import click

from . import cli


@cli.group()
def data():
    """Datasets: check, prepare, synthesise, import photos."""
