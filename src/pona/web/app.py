"""The web app: ``create_app(checkpoint, data_dir) -> FastAPI``, a page and the HTTP API behind it.

    GET  /                          the page (static/index.html; plain HTML/CSS/JS, nothing external)
    GET  /api/health                model, device, precision, dataset, pose estimator, limits
    GET  /api/skeleton              joint names, limbs, colours, model size, a default pose
    GET  /api/dataset               the dataset's images and poses (paged, filtered by name)
    GET  /api/dataset/{name}/image  one dataset image (as stored, or fitted to the model's size)
    POST /api/pose                  photo -> keypoints (needs the pose extra; 501 without)
    POST /api/fit                   photo -> the photo fitted to the model's size (PNG)
    POST /api/transfer              condition + poses -> generated image (PNG, or JSON + attention id)
    GET  /api/attention/{id}        where one target location attends, per PoNA block
    POST /api/animate               frames between two poses, generated in one batch

Errors are JSON ``{"detail": "one line"}`` with a 4xx status (503 with Retry-After when too many
uploads are being decoded); the server keeps running. No message names a server path: the data
directory, checkpoint, working and home directories are cut from every one.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from .. import pose as posemod
from ..errors import PonaError
from ..inference import PoNA
from . import schemas
from .dataset import DatasetIndex
from .service import MAX_FRAMES, WebService, load_default_estimator, png_bytes
from .uploads import (FORMATS, BodyLimitMiddleware, ClientError, UploadLimits, model_pixel_limit,
                      read_limited)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# The page loads nothing from elsewhere; the browser enforces it.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
POSE_HELP = ('pose JSON: {"keypoints": [[y, x], ... 18 pairs], "image_size": [H, W]}; -1 = missing joint; '
             "image_size omitted = the condition image's frame")
ERRORS = {code: {"model": schemas.ErrorDetail} for code in (404, 413, 415, 422, 501, 503)}


def create_app(checkpoint: str | os.PathLike | PoNA, data_dir: str | os.PathLike | DatasetIndex | None = None,
               estimator="auto", device: str = "cpu", limits: UploadLimits = UploadLimits(),
               split: str = "test", precision: str = "fp32") -> FastAPI:
    """Build the web app.

    Args:
        checkpoint: a pona generator checkpoint (file or run directory), or a loaded ``PoNA``.
        data_dir: a PATN-layout dataset whose ``split`` images are offered as people and poses, or
            its ``DatasetIndex`` already read (``split`` is then the index's).
        estimator: ``"auto"`` (MediaPipe via the pose extra, if installed), None (no pose
            estimation: /api/pose answers 501), or a callable (H, W, 3) uint8 -> (18, 2) (y, x)
            keypoints or None when no person is found.
        device: where the model runs ("cpu", "cuda", ...).
        precision: "fp32" | "auto" | "bf16" | "fp16" (:mod:`pona.precision`); ignored for a loaded ``PoNA``.
        limits: upload limits (bytes, pixels).
    """
    model = checkpoint if isinstance(checkpoint, PoNA) else PoNA.from_checkpoint(checkpoint, device, precision=precision)
    dataset = data_dir if isinstance(data_dir, DatasetIndex) or data_dir is None else DatasetIndex(data_dir, split)
    if estimator == "auto":
        estimator, message = load_default_estimator()
    else:
        message = "the server was started without a pose estimator"
    service = WebService(model, dataset, estimator, message, limits)
    if estimator is None:
        log.info("pose estimation unavailable: %s", service.estimator_message)

    app = FastAPI(title="pona", version=__version__,
                  description="Pose transfer with PoNA: the page at `/`, the API under `/api`. "
                              "Every pose answered is in the model's frame (see `/api/skeleton`).")
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.request_bytes)
    _add_error_handlers(app, _path_scrubber(None if dataset is None else dataset.split.root, None if isinstance(checkpoint, PoNA) else checkpoint))
    _add_page(app)
    _add_info_routes(app, service)
    _add_generation_routes(app, service)
    return app


# --- plumbing -----------------------------------------------------------------------------------

def _path_scrubber(*paths):
    """A function cutting the server's directories out of a message: a file under the data
    directory keeps its path inside it (``test/x.png``), any other mention becomes ``<server>``."""
    roots = set()
    for p in (*paths, os.getcwd(), Path.home()):
        if p is not None:
            p = Path(p)
            p = p if p.is_dir() else p.parent
            roots.update(str(q) for q in (p, p.absolute(), p.resolve()) if len(str(q)) > 1)
    roots = sorted(roots, key=len, reverse=True)  # the data directory before the working directory holding it

    def scrub(message: str) -> str:
        for r in roots:
            message = message.replace(r + os.sep, "").replace(r, "<server>")
        return message

    return scrub


def _add_error_handlers(app: FastAPI, scrub) -> None:
    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError):
        return JSONResponse({"detail": scrub(exc.message)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(PonaError)  # DataError, CheckpointError, ...: the request's input, one line
    async def pona_error(request: Request, exc: PonaError):
        return JSONResponse({"detail": scrub(str(exc))}, status_code=422)

    @app.exception_handler(MemoryError)
    async def memory_error(request: Request, exc: MemoryError):
        log.warning("out of memory answering %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "the server ran out of memory for this request; try a smaller one later"},
                            status_code=503, headers={"Retry-After": "10"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        # One line instead of FastAPI's list: "form field frames: Input should be a valid integer".
        parts = []
        for e in exc.errors():
            hint = " (a pose is a text field: curl -F 'NAME=<pose.json', not @)" if e["type"] == "string_type" else ""
            parts.append(f"{e['loc'][0]} field {'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}{hint}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)


def _add_page(app: FastAPI) -> None:
    @app.middleware("http")
    async def page_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not request.url.path.startswith(("/docs", "/redoc")):  # FastAPI's docs load Swagger UI from a CDN
            response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _pose(kp: np.ndarray, size) -> schemas.Pose:
    return schemas.Pose(keypoints=[[float(y), float(x)] for y, x in np.asarray(kp)], image_size=list(size))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png(data: bytes, filename: str) -> Response:
    return Response(data, media_type="image/png", headers={"Content-Disposition": f'inline; filename="{filename}"'})


def _read(upload: UploadFile, service: WebService, what: str) -> bytes:
    return read_limited(upload.file, service.limits.max_bytes, what)


def _one_of(a, b, names: str):
    if (a is None) == (b is None):
        raise ClientError(422, f"give exactly one of {names}")


# --- routes -------------------------------------------------------------------------------------

def _add_info_routes(app: FastAPI, service: WebService) -> None:
    cfg = service.model.generator.config

    def dataset_info() -> schemas.DatasetInfo | None:
        d = service.dataset
        return None if d is None else schemas.DatasetInfo(name=d.split.name, split=d.split.split, images=len(d))

    @app.get("/api/health", response_model=schemas.Health, tags=["info"])
    def health():
        """Is the server up, and with what model, dataset and pose estimator."""
        return schemas.Health(
            version=__version__, device=str(service.model.device), precision=service.model.precision.label,
            model=schemas.ModelInfo(arch=cfg.arch, image_size=list(cfg.image_size), n_blocks=cfg.n_blocks, ngf=cfg.ngf,
                                    parameters=sum(p.numel() for p in service.model.generator.parameters()),
                                    attention=service.has_attention),
            dataset=dataset_info(),
            pose_estimator=schemas.PoseEstimatorInfo(available=service.estimator is not None,
                                                     message=service.estimator_message),
            limits=schemas.UploadLimitsInfo(max_bytes=service.limits.max_bytes, max_pixels=service.limits.max_pixels,
                                            max_decoded_pixels=model_pixel_limit(service.size),
                                            decode_slots=service.limits.decode_slots, formats=list(FORMATS)),
        )

    @app.get("/api/skeleton", response_model=schemas.Skeleton, tags=["info"])
    def skeleton():
        """What a page needs to draw and edit poses: pona's joints, limbs and colours."""
        jc = posemod.JOINT_COLORS
        return schemas.Skeleton(
            joints=list(posemod.JOINTS), limbs=[list(l) for l in posemod.LIMBS],
            joint_colors=[list(c) for c in jc],
            limb_colors=[[(jc[a][i] + jc[b][i]) // 2 for i in range(3)] for a, b in posemod.LIMBS],  # as draw_pose
            flip=list(posemod.FLIP_PERM), image_size=list(service.size),
            default_pose=_pose(service.default_pose(), service.size),
        )

    @app.get("/api/dataset", response_model=schemas.DatasetPage, responses=ERRORS, tags=["dataset"])
    def dataset(offset: int = Query(0, ge=0), limit: int = Query(60, ge=1, le=500),
                q: str = Query("", max_length=200, description="keep names containing this text")):
        """The dataset's images with their poses (in the model's frame), in annotation order."""
        if service.dataset is None:
            raise ClientError(404, "no dataset: start the server with --data DIR (a PATN-layout directory)")
        names = [n for n in service.dataset.names if q in n]
        items = []
        for n in names[offset:offset + limit]:
            try:
                annotated = service.dataset_pose(n)  # in its image's frame
            except ClientError:  # its file is gone since the server started: not offered
                continue
            items.append(schemas.DatasetEntry(name=n, pose=_pose(service.other_frame(annotated.keypoints, annotated.image_size),
                                                                 service.size)))
        return schemas.DatasetPage(dataset=dataset_info(), total=len(names), offset=offset, items=items)

    @app.get("/api/dataset/{name}/image", responses={200: {"content": {"image/png": {}}}, **ERRORS}, tags=["dataset"])
    def dataset_image(name: str, fit: bool = Query(False, description="fit to the model's size (PNG)")):
        """One dataset image, by its name in the annotation file."""
        path = service.dataset_file(name)  # the only way from a name to a file
        headers = {"Cache-Control": "max-age=3600"}
        if fit:
            return Response(png_bytes(service.condition(name=name).image), media_type="image/png", headers=headers)
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            data = path.read_bytes()  # dataset images are small; a FileResponse of a file gone meanwhile is a 500
        except OSError:
            raise ClientError(404, f"dataset image {name!r} cannot be read from the image folder") from None
        return Response(data, media_type=media, headers=headers)


def _add_generation_routes(app: FastAPI, service: WebService) -> None:
    def parse(text: str | None, what: str):
        return None if text is None else service.parse_pose(text, what)

    def condition_of(upload: UploadFile | None, name: str | None, source_pose: str | None):
        _one_of(upload, name, "'condition' (an upload) and 'condition_name' (a dataset image)")
        pose = parse(source_pose, "source_pose")
        if name is not None:
            return service.condition(name=name, pose=pose)
        return service.condition(data=_read(upload, service, "condition"), pose=pose)

    def target_of(cond, text: str | None, name: str | None, what: str = "target") -> np.ndarray:
        _one_of(text, name, f"'{what}_pose' (pose JSON) and '{what}_name' (a dataset image)")
        pose = service.dataset_pose(name) if name is not None else service.parse_pose(text, f"{what}_pose")
        return service.target_pose(cond, pose)

    @app.post("/api/pose", response_model=schemas.PoseResult, responses=ERRORS, tags=["pose"])
    def estimate_pose(image: UploadFile = File(..., description="a photo (PNG, JPEG, WebP or BMP)"),
                      fit: bool = Query(False, description="answer in the model's frame, with the photo fitted to it")):
        """Estimate the pose of the person in a photo (needs the pose extra: 501 without it)."""
        kp, frame, fitted = service.upload_pose(_read(image, service, "image"), fit)
        return schemas.PoseResult(**_pose(kp, frame).model_dump(), joints=list(posemod.JOINTS),
                                  image=None if fitted is None else _b64(png_bytes(fitted)))

    @app.post("/api/fit", responses={200: {"content": {"image/png": {}}}, **ERRORS}, tags=["pose"])
    def fit_image(image: UploadFile = File(..., description="a photo (PNG, JPEG, WebP or BMP)")):
        """The photo scaled and padded to the model's size, as the model sees it (PNG)."""
        return _png(png_bytes(service.upload_fitted(_read(image, service, "image"))), "fitted.png")

    @app.post("/api/transfer", response_model=schemas.TransferResult,
              responses={200: {"content": {"image/png": {}}}, **ERRORS}, tags=["generate"])
    def transfer(
        condition: UploadFile | None = File(None, description="the person: a photo upload, or ..."),
        condition_name: str | None = Form(None, description="... the name of a dataset image"),
        source_pose: str | None = Form(None, description=f"the condition's pose, {POSE_HELP}; default: the "
                                       "dataset annotation, else estimated from the upload"),
        target_pose: str | None = Form(None, description=f"the pose to generate, {POSE_HELP}; or ..."),
        target_name: str | None = Form(None, description="... the name of a dataset image whose pose to take"),
        format: Literal["png", "json"] = Query("png", description="png: the image; json: base64 + poses"),
        attention: bool = Query(False, description="keep the attention maps for /api/attention (json only)"),
    ):
        """Generate the condition person in the target pose."""
        cond = condition_of(condition, condition_name, source_pose)
        src, dst = cond.keypoints, target_of(cond, target_pose, target_name)
        png, key = service.transfer(cond.image, src, dst, attention=attention and format == "json")
        if format == "png":
            return _png(png, "pona-result.png")
        grid = [service.size[0] // 4, service.size[1] // 4] if key else None
        return schemas.TransferResult(image=_b64(png), image_size=list(service.size), source_pose=_pose(src, service.size),
                                      target_pose=_pose(dst, service.size), attention_id=key, attention_grid=grid)

    @app.get("/api/attention/{key}", response_model=schemas.AttentionRow, responses=ERRORS, tags=["generate"])
    def attention_row(key: str, y: float = Query(..., description="target pixel row, model frame"),
                      x: float = Query(..., description="target pixel column, model frame")):
        """Where each PoNA block attends in the condition image when generating pixel (y, x)."""
        grid, loc, maps = service.attention_row(key, y, x)
        return schemas.AttentionRow(grid=list(grid), location=list(loc),
                                    blocks=[None if m is None else _b64(png_bytes(m)) for m in maps])

    @app.post("/api/animate", response_model=schemas.Animation, responses=ERRORS, tags=["generate"])
    def animate(
        condition: UploadFile | None = File(None, description="the person: a photo upload, or ..."),
        condition_name: str | None = Form(None, description="... the name of a dataset image"),
        source_pose: str | None = Form(None, description=f"the condition's pose, {POSE_HELP}"),
        start_pose: str | None = Form(None, description=f"first pose, {POSE_HELP}; default: the condition's pose"),
        target_pose: str | None = Form(None, description=f"last pose, {POSE_HELP}; or ..."),
        target_name: str | None = Form(None, description="... the name of a dataset image whose pose to take"),
        frames: int = Form(8, description=f"number of frames, 2..{MAX_FRAMES}"),
        fps: float = Form(8.0, gt=0, le=60),
    ):
        """Frames of the condition person moving from one pose to another (keypoints interpolated)."""
        cond = condition_of(condition, condition_name, source_pose)
        start = cond.keypoints if start_pose is None else service.target_pose(cond, service.parse_pose(start_pose, "start_pose"))
        end = target_of(cond, target_pose, target_name)
        pngs, poses = service.animate(cond.image, start, end, cond.keypoints, frames)
        return schemas.Animation(frames=[_b64(p) for p in pngs], poses=[_pose(p, service.size) for p in poses], fps=fps)

