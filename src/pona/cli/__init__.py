"""The ``pona`` command. Each module of this package holds one group of subcommands, each a short
function over the library; this one holds the root group, the shared helpers and ``main``.

Errors pona raises on purpose (PonaError) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import PonaError


def parse_size(value: str | None) -> tuple[int, int] | None:
    """'256x176' -> (256, 176), height first."""
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 256x176, got {value!r}") from None
    return h, w


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pona")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool):
    """pona: human pose transfer with PoNA (Pose-guided Non-local Attention)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")


def _register() -> None:
    # Every module of this package adds its commands to ``cli`` when imported; importing them all
    # here (not at the top: they import the group above) means a new command needs no edit here.
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register()


def main(argv=None):
    try:
        rv = cli.main(args=argv, prog_name="pona", standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except PonaError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
