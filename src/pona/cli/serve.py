"""``pona serve``: the web app (pona.web) under uvicorn."""

from __future__ import annotations

import ipaddress

import click

from . import cli
from .infer import precision_option
from ..errors import MissingExtraError


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_port_free(host: str, port: int) -> None:
    """Refuse in one line a port another server holds, or a host this machine cannot listen on,
    before the model loads (uvicorn would print the banner, then exit 3 with its own log lines).
    Port 0 lets the OS pick a free port; the host is still checked."""
    import errno
    import socket

    from ..errors import PonaError

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            s.bind((host.strip("[]"), port))
        except socket.gaierror as e:  # a name that does not resolve
            raise PonaError(f"--host {host}: cannot listen there ({e.strerror or e})") from None
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:  # an address of another machine
                raise PonaError(f"--host {host}: not an address of this machine ({e.strerror})") from None
            raise PonaError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror or e}); "
                            "is another server running there? Choose another --port") from None


@cli.command()
@click.option("--checkpoint", required=True, type=str, help="Generator checkpoint (file or run directory); 'pretrained' (studio, 64x44), 'pretrained-market' (street, 128x64) or 'pretrained-studio-256' (studio, 256x176): the ones packaged with pona.")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), help="PATN-layout dataset to pick people and poses from.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]), help="Which split of --data to offer.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback exposes the app to your network.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--device", default="cpu", show_default=True, help="Where the model runs: cpu, cuda, cuda:1, ...")
@precision_option
@click.option("--no-pose-estimator", is_flag=True, help="Do not load MediaPipe even if the pose extra is installed.")
@click.option("--max-upload-mb", default=16.0, show_default=True, type=click.FloatRange(0.01, 1024), help="Largest accepted upload.")
@click.option("--max-upload-megapixels", default=25.0, show_default=True, type=click.FloatRange(0.01, 1000), help="Largest image an upload may declare; an upper bound: at most (32 H) x (32 W) pixels are decoded for an H x W model.")
def serve(checkpoint, data_dir, split, host, port, device, precision, no_pose_estimator, max_upload_mb,
          max_upload_megapixels):
    """Start the web app: pick or upload a person, set a pose, generate, see the attention.

    Example: pona serve --checkpoint runs/synth --data data/synth  (then open http://127.0.0.1:8000)
    """
    try:
        import uvicorn

        from ..web.app import create_app
        from ..web.dataset import DatasetIndex
        from ..web.uploads import UploadLimits, keep_heap_small
    except ImportError as e:
        raise MissingExtraError(f"pona serve needs the web extra ({e.name} is missing): pip install 'pona[web]'") from None

    check_port_free(host, port)  # first: a host that cannot be bound needs no warning about exposure
    if not is_loopback(host):
        click.secho(f"WARNING: binding to {host}: anyone who can reach this machine on port {port} can use the app "
                    "(and its CPU). It has no authentication. Use --host 127.0.0.1 unless you mean it.",
                    fg="red", bold=True, err=True)
    from ..precision import check_device

    check_device(device, "--device")  # before the model loads and the banner shows
    # the annotations are read before the model loads, so that their errors come alone
    dataset = DatasetIndex(data_dir, split) if data_dir is not None else None
    limits = UploadLimits(max_bytes=int(max_upload_mb * 2**20), max_pixels=int(max_upload_megapixels * 1e6))
    app = create_app(checkpoint, dataset, estimator=None if no_pose_estimator else "auto", device=device,
                     limits=limits, split=split, precision=precision)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"pona web app on http://{shown}:{port}  (API docs: /docs, /openapi.json; Ctrl+C stops)")
    # a process-wide allocator setting, so for the server process only, not for every importer of
    # create_app: freed upload buffers go back to the OS (web/uploads.py, "memory")
    keep_heap_small()
    uvicorn.run(app, host=host, port=port, log_level="info")
