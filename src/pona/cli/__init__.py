"""The ``pona`` command. Each module of this package holds one group of subcommands, each a short
function over the library; this one holds the root group, the shared helpers and ``main``.

Errors pona raises on purpose (PonaError) are printed as one line and exit with status 2.

The commands import the library inside their functions, on purpose: `import pona.cli` takes 0.07 s
and imports no torch, where importing what the commands use takes 2.0 s (2026-12-07, AMD EPYC
Zen 4, median of 3), so `pona --help`, a usage error or a bad-input refusal answers at once.
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
    if h < 1 or w < 1:
        raise click.BadParameter(f"height and width must be positive, got {value!r}")
    return h, w


MAX_MODEL_SIDE = 1024  # 4x the paper's 256x176; above it attention over (H/4 * W/4)^2 pairs exceeds a GPU


def parse_model_size(value: str | None, option: str = "--size") -> tuple[int, int] | None:
    """parse_size for a generator's input: both sides multiples of 4 (two stride-2 convs), at most
    MAX_MODEL_SIDE. Raises PonaError naming ``option`` (one line, also from a click callback)."""
    try:
        size = parse_size(value)
    except click.BadParameter as e:
        raise PonaError(f"{option} {value}: {e.message}") from None
    if size is None:
        return None
    h, w = size
    if h % 4 or w % 4:
        raise PonaError(f"{option} {value}: height and width must be multiples of 4 (the generator halves them twice)")
    if max(h, w) > MAX_MODEL_SIDE:
        raise PonaError(f"{option} {value}: at most {MAX_MODEL_SIDE} pixels a side")
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
        click.echo(f"error: {one_line(e)}", err=True)
        sys.exit(2)


def one_line(error: Exception) -> str:
    """The message of ``error`` as one line. A DataLoader worker's error reaches us re-raised as
    "Caught DataError in DataLoader worker process 0. Original Traceback ...": its own message is
    the traceback's last line, after the exception's class name."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if "DataLoader worker" in lines[0] and len(lines) > 1:
        last = lines[-1]
        name, sep, message = last.partition(": ")
        return message if sep and name.rsplit(".", 1)[-1].endswith("Error") else last
    return " ".join(line.strip() for line in lines)


if __name__ == "__main__":
    main()
