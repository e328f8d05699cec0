"""Dataset commands (the ``pona data`` group)."""

from __future__ import annotations

from . import cli


@cli.group()
def data():
    """Datasets: the PATN layout, synthetic people, your own photos."""
