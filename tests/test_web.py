"""The web app's HTTP API through FastAPI's TestClient: each endpoint, each bad input, safety."""

import base64
import io
import json
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from web_helpers import SIZE, make_checkpoint, make_dataset, person_pose, png, web_config

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import pona  # noqa: E402
from pona import pose as posemod  # noqa: E402
from pona.web.app import STATIC, create_app  # noqa: E402
from pona.data.fit import fit_to_size  # noqa: E402
from pona.web.uploads import ClientError, UploadLimits, decode_image  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    make_checkpoint(root / "g.safetensors")
    ann = make_dataset(root / "data")
    return root, ann


@pytest.fixture(scope="module")
def client(env):
    root, _ = env
    return TestClient(create_app(root / "g.safetensors", root / "data", estimator=None))


def make_client(env, **kwargs):
    root, _ = env
    kwargs.setdefault("estimator", None)
    return TestClient(create_app(root / "g.safetensors", root / "data", **kwargs))


def decode(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def pose_json(kp, size=None) -> str:
    d = {"keypoints": np.asarray(kp, dtype=float).tolist()}
    if size is not None:
        d["image_size"] = list(size)
    return json.dumps(d)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG file declaring width x height RGB pixels but holding almost no data (a bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def library_transfer(env, image, src, dst):
    root, _ = env
    return np.asarray(pona.PoNA.from_checkpoint(root / "g.safetensors").transfer(image, src, dst))


def dataset_image(env, name):
    root, _ = env
    return np.array(Image.open(root / "data" / "test" / name).convert("RGB"))


# --- info endpoints -----------------------------------------------------------------------------

def test_health_describes_model_dataset_estimator_and_limits(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["device"] == "cpu"
    assert h["precision"].startswith("fp32 ")  # create_app's default, as the library's; pona serve passes auto
    assert h["model"]["image_size"] == [64, 32] and h["model"]["n_blocks"] == web_config().n_blocks and h["model"]["attention"]
    assert h["model"]["parameters"] == sum(p.numel() for p in pona.Generator(web_config()).parameters())
    assert h["dataset"] == {"name": "toy", "split": "test", "images": 4}
    assert h["pose_estimator"]["available"] is False and "without a pose estimator" in h["pose_estimator"]["message"]
    assert h["limits"]["formats"] == ["PNG", "JPEG", "WEBP", "BMP"]


def test_skeleton_serves_pona_joints_limbs_and_colours(client):
    s = client.get("/api/skeleton").json()
    assert s["joints"] == list(posemod.JOINTS) and s["flip"] == list(posemod.FLIP_PERM)
    assert [tuple(l) for l in s["limbs"]] == list(posemod.LIMBS)
    assert [tuple(c) for c in s["joint_colors"]] == list(posemod.JOINT_COLORS)
    # draw_pose paints limb (1, 2) in the mean of neck (255, 85, 0) and r_shoulder (255, 170, 0).
    assert s["limb_colors"][0] == [255, 127, 0]
    assert s["image_size"] == [64, 32]
    kp = np.array(s["default_pose"]["keypoints"])
    assert kp.shape == (18, 2) and (kp[:, 0] < 64).all() and (kp[:, 1] < 32).all() and (kp >= 0).all()
    assert kp[0, 0] < kp[1, 0] < kp[8, 0] < kp[9, 0] < kp[10, 0]  # nose above neck above hip, knee, ankle


def test_dataset_lists_annotated_images_that_exist_with_their_poses(client, env):
    _, ann = env
    page = client.get("/api/dataset").json()
    names = [i["name"] for i in page["items"]]
    assert names == ["person0.png", "person1.png", "person2.png", "person3.png"]  # not unannotated/missing
    assert page["total"] == 4 and page["dataset"]["split"] == "test"
    item = page["items"][2]
    assert np.array_equal(np.array(item["pose"]["keypoints"]), ann["person2.png"])  # l_wrist -1 kept
    assert item["pose"]["image_size"] == [64, 32]
    paged = client.get("/api/dataset?offset=1&limit=2&q=person").json()
    assert [i["name"] for i in paged["items"]] == ["person1.png", "person2.png"] and paged["total"] == 4
    assert client.get("/api/dataset?q=3").json()["total"] == 1


def test_dataset_image_is_the_stored_file_or_the_fitted_png(client, env):
    root, _ = env
    raw = client.get("/api/dataset/person1.png/image")
    assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
    assert raw.content == (root / "data" / "test" / "person1.png").read_bytes()
    fitted = client.get("/api/dataset/person1.png/image?fit=true")
    assert np.array_equal(decode(fitted.content), dataset_image(env, "person1.png"))


def test_without_dataset_the_dataset_endpoints_say_how_to_get_one(env):
    root, _ = env
    c = TestClient(create_app(root / "g.safetensors", estimator=None))
    r = c.get("/api/dataset")
    assert r.status_code == 404 and "--data" in r.json()["detail"]
    assert c.get("/api/health").json()["dataset"] is None


# --- generation ---------------------------------------------------------------------------------

def test_transfer_by_names_returns_the_library_result_as_png(client, env):
    _, ann = env
    r = client.post("/api/transfer", data={"condition_name": "person0.png", "target_name": "person3.png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    expected = library_transfer(env, dataset_image(env, "person0.png"), ann["person0.png"], ann["person3.png"])
    assert np.array_equal(decode(r.content), expected)


def test_transfer_json_maps_poses_to_the_model_frame_and_keeps_attention(client, env):
    _, ann = env
    target = person_pose(1).astype(float)
    target[5] = -1  # a hidden joint
    doubled = np.where(target >= 0, target * 2, -1)  # the same pose given in a 128x64 frame
    r = client.post("/api/transfer?format=json&attention=true",
                    data={"condition_name": "person0.png", "target_pose": pose_json(doubled, (128, 64))})
    assert r.status_code == 200, r.text
    out = r.json()
    # A pose of another frame is framed on its own, as a photo's: here the person box, grown to the
    # model's aspect, is the whole 128x64 frame, so with pixel centres y' = (y + 0.5) / 2 - 0.5.
    target = np.where(target >= 0, target - 0.25, -1)
    assert np.allclose(out["target_pose"]["keypoints"], target) and out["image_size"] == [64, 32]
    assert np.array_equal(out["source_pose"]["keypoints"], ann["person0.png"])
    image = decode(base64.b64decode(out["image"]))
    expected = library_transfer(env, dataset_image(env, "person0.png"), ann["person0.png"], target)
    # Asking for attention takes the explicit path; the library's default CPU path agrees with it to
    # float rounding, which can move a value across .5 and so one 8-bit level.
    assert np.abs(image.astype(int) - expected).max() <= 1 and (image != expected).mean() < 0.01
    assert out["attention_grid"] == [16, 8]

    # The row for target pixel (37, 21) -> grid cell (9, 5), flat index 9 * 8 + 5, of each block's map.
    row = client.get(f"/api/attention/{out['attention_id']}", params={"y": 37, "x": 21}).json()
    assert row["grid"] == [16, 8] and row["location"] == [9, 5] and len(row["blocks"]) == web_config().n_blocks  # one map per block
    model = pona.PoNA.from_checkpoint(env[0] / "g.safetensors")
    _, maps = model.transfer(dataset_image(env, "person0.png"), ann["person0.png"], target, return_attention=True)
    for b, encoded in enumerate(row["blocks"]):
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))
        m = maps[b][-1][0, 9 * 8 + 5]  # the pose-guided map (last of the block), (N,) over condition locations
        want = np.round((m / m.max() * 255).numpy()).reshape(16, 8)
        assert got.shape == (16, 8) and np.abs(got.astype(int) - want).max() <= 1 and got.max() == 255


def test_uploads_of_another_size_are_fitted_like_photos_with_their_poses(client, env):
    _, ann = env
    # A 256x128 photo with the person (person0 at twice the size) in its top-left 128x64 quarter.
    big = np.zeros((256, 128, 3), np.uint8) + 30
    big[:128, :64] = np.asarray(Image.fromarray(dataset_image(env, "person0.png")).resize((64, 128), Image.NEAREST))
    upload = {"condition": ("me.png", png(big))}
    src, dst = ann["person0.png"] * 2, np.where(ann["person2.png"] >= 0, ann["person2.png"] * 2, -1)
    fitted, src_fitted, fit = fit_to_size(big, SIZE, keypoints=src)  # the person cropped, resized, padded
    assert fit.box[2] < 200 and fit.box[3] < 100  # cropped around the person, not the whole photo

    def post(source, target, query="?format=json"):
        r = client.post(f"/api/transfer{query}", files=upload, data={"source_pose": source, "target_pose": target})
        assert r.status_code == 200, r.text
        return r.json() if query else r.content

    # No image_size: both poses are in the photo's frame; the target goes through the photo's fit.
    out = post(pose_json(src), pose_json(dst))
    assert np.allclose(out["source_pose"]["keypoints"], src_fitted)
    assert np.allclose(out["target_pose"]["keypoints"], fit.apply(dst))
    assert out["target_pose"]["keypoints"][7] == [-1, -1] and out["attention_id"] is None
    image = decode(base64.b64decode(out["image"]))
    assert np.array_equal(image, library_transfer(env, fitted, src_fitted, fit.apply(dst)))
    assert np.array_equal(decode(post(pose_json(src, (256, 128)), pose_json(dst, (256, 128)), "")), image)

    # Poses in the model's frame go with the whole photo fitted (what /api/fit shows a page).
    whole = decode(client.post("/api/fit", files={"image": ("me.png", png(big))}).content)
    out = post(pose_json(ann["person0.png"], SIZE), pose_json(ann["person2.png"], SIZE))
    want = library_transfer(env, whole, ann["person0.png"], ann["person2.png"])
    assert np.array_equal(decode(base64.b64decode(out["image"])), want)

    r = client.post("/api/transfer", files=upload, data={"source_pose": pose_json(src, (100, 50)), "target_name": "person1.png"})
    assert r.status_code == 422 and "source_pose refers to a 50x100 image (WxH), but the condition image is 128x256" in r.json()["detail"]


def test_animate_goes_from_the_start_pose_to_the_target_in_one_batch(client, env):
    _, ann = env
    r = client.post("/api/animate", data={"condition_name": "person0.png", "target_name": "person3.png", "frames": 5, "fps": 10})
    assert r.status_code == 200, r.text
    anim = r.json()
    assert len(anim["frames"]) == 5 and anim["fps"] == 10
    assert np.array_equal(anim["poses"][0]["keypoints"], ann["person0.png"])
    assert np.array_equal(anim["poses"][-1]["keypoints"], ann["person3.png"])
    assert np.allclose(anim["poses"][2]["keypoints"], (ann["person0.png"] + ann["person3.png"]) / 2)
    last = decode(base64.b64decode(anim["frames"][-1]))
    single = library_transfer(env, dataset_image(env, "person0.png"), ann["person0.png"], ann["person3.png"])
    assert np.abs(last.astype(int) - single).max() <= 1  # batch of 5 vs batch of 1: float rounding only
    first = decode(base64.b64decode(anim["frames"][0]))
    assert np.abs(first.astype(int) - last).mean() > 1


# --- pose estimation ----------------------------------------------------------------------------

def fake_estimator(image):
    """A person whose nose is at the image centre; None ("nobody") for an all-black image."""
    if image.max() == 0:
        return None
    kp = np.full((18, 2), -1.0)
    kp[0] = (image.shape[0] / 2, image.shape[1] / 2)
    return kp


def test_pose_endpoint_answers_in_the_photo_or_the_model_frame(env):
    c = make_client(env, estimator=fake_estimator)
    assert c.get("/api/health").json()["pose_estimator"] == {"available": True, "message": ""}
    photo = png((128, 128))
    r = c.post("/api/pose", files={"image": ("p.png", photo, "image/png")})
    assert r.status_code == 200 and r.json()["keypoints"][0] == [64, 64] and r.json()["image_size"] == [128, 128]
    assert r.json()["keypoints"][1] == [-1, -1] and r.json()["joints"][0] == "nose"
    assert r.json()["image"] is None
    # One joint: no person box, the whole 128x128 photo is fitted: scale 1/4 -> 32x32 at top 16. With
    # pixel centres, y' = (y + 0.5) / 4 - 0.5 + 16: (64, 64) -> (31.625, 15.625).
    r = c.post("/api/pose?fit=true", files={"image": ("p.png", photo, "image/png")})
    assert r.json()["keypoints"][0] == [31.625, 15.625] and r.json()["image_size"] == [64, 32]
    fitted = decode(base64.b64decode(r.json()["image"]))  # the photo in the same frame as the keypoints
    assert fitted.shape == (64, 32, 3) and (fitted == (200, 100, 50)).all()
    r = c.post("/api/pose", files={"image": ("p.png", png((40, 40), color=(0, 0, 0)), "image/png")})
    assert r.status_code == 422 and "no person found" in r.json()["detail"]
    # An upload with no source pose gets the estimated one.
    r = c.post("/api/transfer?format=json", files={"condition": ("p.png", photo)}, data={"target_name": "person1.png"})
    assert r.status_code == 200 and r.json()["source_pose"]["keypoints"][0] == [31.625, 15.625]


def test_without_estimator_pose_is_501_with_the_reason(client):
    r = client.post("/api/pose", files={"image": ("p.png", png((64, 32)), "image/png")})
    assert r.status_code == 501 and "pose estimation is unavailable" in r.json()["detail"]
    r = client.post("/api/transfer", files={"condition": ("p.png", png((64, 32)))}, data={"target_name": "person1.png"})
    assert r.status_code == 501


def test_fit_endpoint_scales_and_pads_to_the_model_size(client):
    r = client.post("/api/fit", files={"image": ("p.png", png((128, 128), color=(10, 200, 30)))})
    out = decode(r.content)
    assert r.status_code == 200 and out.shape == (64, 32, 3) and (out == (10, 200, 30)).all()


# --- bad input ----------------------------------------------------------------------------------

def gif_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="GIF")
    return buf.getvalue()


def tiff_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("payload, status, message", [
    (b"hello, I am a text file", 415, "not an image of an accepted type"),
    (b"%PDF-1.4\n1 0 obj\n", 415, "not an image"),
    (gif_bytes(), 415, "not an image of an accepted type"),
    (tiff_bytes(), 415, "not an image of an accepted type"),
    (png_header_only(6000, 5000), 413, "30,000,000 pixels, above the limit of 25,000,000"),
    (png((64, 32))[:60], 422, "cannot be decoded"),
    (b"", 422, "empty"),
])
def test_bad_uploads_get_a_clear_4xx_and_the_server_keeps_running(client, payload, status, message):
    r = client.post("/api/transfer", files={"condition": ("photo.png", payload, "image/png")}, data={"target_name": "person1.png"})
    assert r.status_code == status and message in r.json()["detail"], r.text
    r = client.post("/api/fit", files={"image": ("photo.jpg", payload, "image/jpeg")})
    assert r.status_code == status
    assert client.get("/api/health").status_code == 200


def test_decompression_bomb_is_refused_by_pillows_guard_too(env):
    # Our pixel limit set above Pillow's: Pillow's DecompressionBombError (> 2 * MAX_IMAGE_PIXELS) is caught.
    c = make_client(env, limits=UploadLimits(max_pixels=10**12))
    r = c.post("/api/fit", files={"image": ("bomb.png", png_header_only(30000, 30000))})
    assert r.status_code == 413 and "decompression bomb" in r.json()["detail"]


def test_upload_above_the_byte_limit_is_refused(env):
    c = make_client(env, limits=UploadLimits(max_bytes=1000))
    noisy = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    data = png(noisy)
    assert len(data) > 1000
    r = c.post("/api/fit", files={"image": ("big.png", data)})
    assert r.status_code == 413 and "1,000 bytes" in r.json()["detail"]
    with pytest.raises(ClientError, match="limit of 1,000 bytes"):
        decode_image(data, UploadLimits(max_bytes=1000))


def test_oversized_request_body_is_refused_before_it_is_parsed(env):
    c = make_client(env, limits=UploadLimits(max_bytes=1000, max_request_bytes=50_000))
    body = b"x" * 200_000
    r = c.post("/api/fit", content=body, headers={"content-type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 413 and "50,000 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"y" * 10_000
    r = c.post("/api/fit", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 413 and "50,000 bytes" in r.json()["detail"]
    assert c.get("/api/health").status_code == 200


@pytest.mark.parametrize("field, value, message", [
    ("target_pose", "{not json", "target_pose is not valid JSON"),
    ("target_pose", json.dumps({"keypoints": [[1, 2]] * 17}), "expected [18, 2]"),
    ("target_pose", json.dumps({"keypoints": [[1, 2, 3]] * 18}), "expected [18, 2]"),
    ("target_pose", json.dumps({"keypoints": [[-5, 2]] * 18}), "-1 for a missing joint"),
    ("target_pose", json.dumps({"keypoints": [["a", "b"]] * 18}), "18 [y, x] number pairs"),
    ("target_pose", json.dumps({"keypoints": [[1, 2]] * 18, "image_size": [0, 5]}), "'image_size' must be"),
    ("target_pose", json.dumps([1, 2, 3]), "expected an object with 'keypoints'"),
    ("source_pose", "[]", "source_pose: expected an object"),
    ("target_pose", "[" * 5000, "nested too deeply"),
    ("target_pose", json.dumps({"people": []}), "target_pose: 'people' is empty"),
])
def test_bad_pose_json_is_a_422_naming_the_field(client, field, value, message):
    data = {"condition_name": "person0.png", "target_name": "person1.png", field: value}
    if field == "target_pose":
        del data["target_name"]
    r = client.post("/api/transfer", data=data)
    assert r.status_code == 422 and message in r.json()["detail"], r.text


def test_a_target_pose_in_openpose_json_is_read_like_pona_json(client):
    target = person_pose(1).astype(float)
    target[5] = -1
    flat = [v for (y, x), ok in zip(target, (target >= 0).all(1)) for v in ((x, y, 1.0) if ok else (0, 0, 0))]
    answers = [client.post("/api/transfer?format=json", data={"condition_name": "person0.png", "target_pose": text})
               for text in (pose_json(target), json.dumps({"people": [{"pose_keypoints_2d": flat}]}))]
    assert [r.status_code for r in answers] == [200, 200], answers[1].text
    assert answers[0].json()["target_pose"] == answers[1].json()["target_pose"]


def test_a_pose_sent_as_a_file_gets_a_hint(client):
    r = client.post("/api/transfer", data={"condition_name": "person0.png"},
                    files={"target_pose": ("pose.json", pose_json(person_pose(1)).encode(), "application/json")})
    assert r.status_code == 422 and "target_pose" in r.json()["detail"] and "a text field" in r.json()["detail"]


@pytest.mark.parametrize("data, status, message", [
    ({"condition_name": "nobody.png", "target_name": "person1.png"}, 404, "no image named 'nobody.png'"),
    ({"condition_name": "person0.png", "target_name": "nobody.png"}, 404, "no image named"),
    ({"target_name": "person1.png"}, 422, "exactly one of 'condition'"),
    ({"condition_name": "person0.png"}, 422, "exactly one of 'target_pose'"),
    ({"condition_name": "person0.png", "target_name": "person1.png", "target_pose": "{}"}, 422, "exactly one of"),
])
def test_missing_or_unknown_names_are_4xx(client, data, status, message):
    r = client.post("/api/transfer", data=data)
    assert r.status_code == status and message in r.json()["detail"], r.text


@pytest.mark.parametrize("name", [
    "../train/secret.png", "..%2Ftrain%2Fsecret.png", "....//train/secret.png", "/etc/passwd", "%2Fetc%2Fpasswd",
    "..", "unannotated.png", "missing.png", "secret.png", "../toy-annotation-test.csv",
])
def test_no_file_outside_the_index_can_be_read(client, env, name):
    root, _ = env
    assert client.get(f"/api/dataset/{name}/image").status_code == 404
    assert client.get(f"/api/dataset/{name}/image?fit=1").status_code == 404
    r = client.post("/api/transfer", data={"condition_name": name, "target_name": "person1.png"})
    assert r.status_code == 404 and "no image named" in r.json()["detail"]
    r = client.post("/api/transfer", data={"condition_name": "person0.png", "target_name": name})
    assert r.status_code == 404


def test_absolute_paths_and_static_traversal_are_refused(client, env):
    root, _ = env
    real = str(root / "data" / "test" / "person0.png")  # a file that exists, named by its path
    r = client.post("/api/transfer", data={"condition_name": real, "target_name": "person1.png"})
    assert r.status_code == 404
    for path in ("/static/../app.py", "/static/..%2Fapp.py", "/static/%2e%2e/app.py", "/static//etc/passwd",
                 "/static/../../uploads.py", "/etc/passwd", "/api/../web/app.py"):
        r = client.get(path)
        assert r.status_code == 404 and "create_app" not in r.text and "root:" not in r.text, path


def test_bad_animation_and_attention_requests_are_4xx(client):
    r = client.post("/api/animate", data={"condition_name": "person0.png", "target_name": "person1.png", "frames": 100})
    assert r.status_code == 422 and "between 2 and 24" in r.json()["detail"]
    r = client.post("/api/animate", data={"condition_name": "person0.png", "target_name": "person1.png", "frames": "many"})
    assert r.status_code == 422 and "frames" in r.json()["detail"] and isinstance(r.json()["detail"], str)
    assert client.get("/api/attention/nope?y=1&x=1").status_code == 404
    key = client.post("/api/transfer?format=json&attention=true",
                      data={"condition_name": "person0.png", "target_name": "person1.png"}).json()["attention_id"]
    r = client.get(f"/api/attention/{key}?y=64&x=0")
    assert r.status_code == 422 and "outside the 64x32 image" in r.json()["detail"]


# --- concurrency --------------------------------------------------------------------------------

def test_concurrent_transfers_give_the_sequential_results(client):
    jobs = [("person0.png", "person1.png"), ("person1.png", "person2.png"), ("person2.png", "person3.png"),
            ("person3.png", "person0.png"), ("person0.png", "person2.png"), ("person1.png", "person3.png")] * 2

    def run(job):
        r = client.post("/api/transfer?format=json&attention=true", data={"condition_name": job[0], "target_name": job[1]})
        assert r.status_code == 200
        return r.json()

    sequential = [run(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(run, jobs))
    assert [c["image"] for c in concurrent] == [s["image"] for s in sequential]
    assert len({c["attention_id"] for c in concurrent}) == len(jobs)
    # Each kept attention map belongs to its own generation: the same rows as a rerun of its job.
    rows = [client.get(f"/api/attention/{c['attention_id']}?y=20&x=10").json()["blocks"] for c in concurrent[-4:]]
    again = [run(j) for j in jobs[-4:]]
    rows_again = [client.get(f"/api/attention/{a['attention_id']}?y=20&x=10").json()["blocks"] for a in again]
    assert rows == rows_again


# --- page, docs, cli ----------------------------------------------------------------------------

def test_page_and_static_files_load_nothing_from_elsewhere(client):
    r = client.get("/")
    assert r.status_code == 200 and '<script type="module" src="/static/app.js">' in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        text = path.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, (path.name, urls)  # an XML namespace, never fetched
        assert "@import" not in text and "fonts.googleapis" not in text


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/health", "/api/skeleton", "/api/dataset", "/api/dataset/{name}/image", "/api/pose",
                 "/api/fit", "/api/transfer", "/api/attention/{key}", "/api/animate"):
        assert path in spec["paths"], path
    assert "Pose" in spec["components"]["schemas"] and "TransferResult" in spec["components"]["schemas"]


def test_serve_warns_loudly_when_not_bound_to_loopback(env, monkeypatch):
    from click.testing import CliRunner

    import uvicorn
    from pona.cli import cli
    from pona.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    root, _ = env
    args = ["serve", "--checkpoint", str(root / "g.safetensors"), "--data", str(root / "data"), "--no-pose-estimator"]
    quiet = CliRunner().invoke(cli, args)
    assert quiet.exit_code == 0, quiet.output
    assert calls[-1][1]["host"] == "127.0.0.1" and "WARNING" not in quiet.output
    loud = CliRunner().invoke(cli, args + ["--host", "0.0.0.0", "--port", "9000", "--max-upload-mb", "2"])
    assert loud.exit_code == 0 and "WARNING: binding to 0.0.0.0" in loud.output
    app, kw = calls[-1]
    assert kw == {"host": "0.0.0.0", "port": 9000, "log_level": "info"}
    assert app.state.service.limits.max_bytes == 2 * 2**20
    from pona.precision import resolve_precision

    assert app.state.service.model.precision == resolve_precision("auto", "cpu")  # serve's default
    CliRunner().invoke(cli, args + ["--precision", "fp32"])
    assert calls[-1][0].state.service.model.precision.name == "fp32"


# --- helpers ------------------------------------------------------------------------------------

def test_uploads_are_turned_upright_from_exif():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue(), UploadLimits()).shape == (40, 20, 3)


def test_attention_store_forgets_the_oldest_generation():
    from pona.web.attention import AttentionStore

    store = AttentionStore(max_entries=2)
    m = torch.softmax(torch.arange(16.0).reshape(4, 4), dim=-1)
    keys = [store.put([m, None]) for _ in range(3)]
    with pytest.raises(KeyError):
        store.row(keys[0], 0)
    row = store.row(keys[2], 1)
    assert row[1] is None and row[0].tolist() == np.round(m[1].numpy() / m[1].max().item() * 255).astype(int).tolist()
