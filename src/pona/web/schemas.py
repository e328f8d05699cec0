"""Pydantic models of the HTTP API (they are also its OpenAPI documentation)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[y, x] in pixels; [-1, -1] = missing")]


class Pose(BaseModel):
    """A pose as pona's keypoints JSON (``pona.data.posefile``)."""

    keypoints: Annotated[list[Point], Field(min_length=18, max_length=18)] = Field(
        description="18 [y, x] pairs in COCO-18 order (see /api/skeleton); -1 marks a missing joint")
    image_size: list[int] | None = Field(
        None, description="[height, width] of the image the coordinates refer to; omitted = the condition image's")


class ModelInfo(BaseModel):
    arch: str
    image_size: list[int] = Field(description="[height, width] the model generates")
    n_blocks: int
    ngf: int
    parameters: int
    attention: bool = Field(description="whether the model has pose-guided attention maps to show")


class DatasetInfo(BaseModel):
    name: str = Field(description="dataset name prefix of the CSVs (market, fasion, synth, ...)")
    split: str
    images: int


class PoseEstimatorInfo(BaseModel):
    available: bool
    message: str = Field(description="why it is unavailable, and the fix; empty when available")


class UploadLimitsInfo(BaseModel):
    max_bytes: int
    max_pixels: int = Field(description="width x height an upload may declare")
    max_decoded_pixels: int = Field(description="pixels decoded at most, after a JPEG's 1/2-1/8 scaled decoding: "
                                                "32 times the model's height and width")
    decode_slots: int = Field(description="uploads decoded at once; past a short queue, 503 with Retry-After")
    formats: list[str]


class Health(BaseModel):
    status: str = "ok"
    version: str
    device: str
    precision: str = Field(description='what the generator computes in: "fp32 NCHW", "bf16 channels_last", ...')
    model: ModelInfo
    dataset: DatasetInfo | None
    pose_estimator: PoseEstimatorInfo
    limits: UploadLimitsInfo


class Skeleton(BaseModel):
    joints: list[str] = Field(description="the 18 joint names, in keypoint order")
    limbs: list[list[int]] = Field(description="pairs of joint indices to draw as lines")
    joint_colors: list[list[int]] = Field(description="[r, g, b] per joint")
    limb_colors: list[list[int]] = Field(description="[r, g, b] per limb")
    flip: list[int] = Field(description="flip[i]: the joint that joint i becomes in a mirror image")
    image_size: list[int] = Field(description="[height, width] of the model (the frame of every pose answered)")
    default_pose: Pose = Field(description="a standing person, in the model's frame")


class DatasetEntry(BaseModel):
    name: str
    pose: Pose = Field(description="its annotated pose, in the model's frame")


class DatasetPage(BaseModel):
    dataset: DatasetInfo
    total: int = Field(description="entries matching the query")
    offset: int
    items: list[DatasetEntry]


class PoseResult(Pose):
    joints: list[str]
    image: str | None = Field(None, description="with fit=true: the photo fitted to the model's size, PNG, base64")


class TransferResult(BaseModel):
    image: str = Field(description="the generated image, PNG, base64")
    image_size: list[int]
    source_pose: Pose = Field(description="the condition pose used, in the model's frame")
    target_pose: Pose = Field(description="the target pose used, in the model's frame")
    attention_id: str | None = Field(
        None, description="id for GET /api/attention/{id} (kept for the last few generations), if asked")
    attention_grid: list[int] | None = Field(None, description="[H/4, W/4]: the size of each attention map")


class AttentionRow(BaseModel):
    grid: list[int] = Field(description="[h, w] of each map (the model's size / 4)")
    location: list[int] = Field(description="[row, column] of the target location in the grid")
    blocks: list[str | None] = Field(
        description="per PoNA block, where that target location attends in the condition image: a "
                    "grey h x w PNG, base64, each map scaled so that its maximum is 255 (null: no map)")


class Animation(BaseModel):
    frames: list[str] = Field(description="generated frames, PNG, base64, in order")
    poses: list[Pose] = Field(description="the pose of each frame, in the model's frame")
    fps: float


class ErrorDetail(BaseModel):
    detail: str
