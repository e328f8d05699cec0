"""The web app under abuse: hostile fields and files get a 4xx naming no server path; uploads are
decoded shrunk, a few at a time; a real ``pona serve`` survives a burst with its memory bounded."""

import io
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from web_helpers import SIZE, make_checkpoint, make_dataset, memory_mb, person_pose, pona_serve, png

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from pona.errors import DataError  # noqa: E402
from pona.web.app import create_app  # noqa: E402
from pona.web.uploads import ClientError, DecodeSlots, UploadLimits, decode_image, decode_upload  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("abuse")
    make_checkpoint(root / "g.safetensors")
    make_dataset(root / "data")
    return root


@pytest.fixture(scope="module")
def client(env):
    return TestClient(create_app(env / "g.safetensors", env / "data", estimator=None))


def pose_text(size=None, kp=None) -> str:
    d = {"keypoints": np.asarray(person_pose(1) if kp is None else kp, dtype=float).tolist()}
    if size is not None:
        d["image_size"] = size
    return json.dumps(d)


def assert_no_server_path(r, env):
    for path in {str(env), str(env.resolve()), str(env.parent)}:
        assert path not in r.text, r.text


# --- hostile fields and missing files: 4xx, no path --------------------------------------------

HOSTILE = {
    "image_size 1e9 (ints)": pose_text([10**9, 10**9]),
    "image_size 1e9 (floats)": '{"keypoints": %s, "image_size": [1e9, 1e9]}' % json.dumps(person_pose(1).tolist()),
    "100k-deep JSON": "[" * 100_000 + "]" * 100_000,
    "5000-digit number": '{"keypoints": ' + "7" * 5000 + "}",
    "5000-digit coordinate": '{"keypoints": [[' + "7" * 5000 + ".5, 1]]}",
}


@pytest.mark.parametrize("endpoint", ["/api/transfer", "/api/animate"])
@pytest.mark.parametrize("field", ["target_pose", "source_pose"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_pose_fields_are_422(client, env, endpoint, field, case):
    data = {"condition_name": "person0.png", field: HOSTILE[case]}
    if field != "target_pose":
        data["target_name"] = "person1.png"
    r = client.post(endpoint, data=data)
    assert r.status_code == 422 and r.json()["detail"], r.text
    assert_no_server_path(r, env)


@pytest.mark.parametrize("endpoint", ["/api/transfer", "/api/animate"])
def test_a_pose_of_the_largest_frame_is_fitted_from_its_size_alone(client, endpoint):
    # 100000 x 100000 is the largest image_size accepted: it used to allocate the frame (30 GB: 500).
    kp = person_pose(1) * 1000
    t = time.monotonic()
    r = client.post(endpoint, data={"condition_name": "person0.png", "target_pose": pose_text([100_000, 100_000], kp)})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t < 20


def test_numbers_of_5000_digits_in_query_and_form_fields_are_422(client):
    digits = "9" * 5000
    assert client.get(f"/api/dataset?offset={digits}").status_code == 422
    r = client.post("/api/animate", data={"condition_name": "person0.png", "target_name": "person1.png", "frames": digits})
    assert r.status_code == 422
    r = client.get(f"/api/attention/x?y={digits}&x=1")
    assert 400 <= r.status_code < 500


@pytest.fixture
def missing_file(env):
    """person3.png removed from the image folder after the server indexed it."""
    path = env / "data" / "test" / "person3.png"
    path.rename(path.with_suffix(".bak"))
    yield "person3.png"
    path.with_suffix(".bak").rename(path)


@pytest.mark.parametrize("method, url, data", [
    ("get", "/api/dataset/person3.png/image", None),
    ("get", "/api/dataset/person3.png/image?fit=true", None),
    ("post", "/api/transfer", {"condition_name": "person3.png", "target_name": "person1.png"}),
    ("post", "/api/transfer", {"condition_name": "person0.png", "target_name": "person3.png"}),
    ("post", "/api/animate", {"condition_name": "person3.png", "target_name": "person1.png"}),
])
def test_a_dataset_image_gone_from_disk_is_404_without_the_path(client, env, missing_file, method, url, data):
    r = client.request(method, url, data=data)
    assert r.status_code == 404 and "person3.png" in r.json()["detail"], r.text
    assert_no_server_path(r, env)
    assert client.get("/api/health").status_code == 200
    listed = client.get("/api/dataset")
    assert listed.status_code == 200 and "person3.png" not in [e["name"] for e in listed.json()["items"]]


def test_any_pona_error_is_422_with_the_server_paths_cut(env, monkeypatch):
    client = TestClient(create_app(env / "g.safetensors", env / "data", estimator=None))
    index = client.app.state.service.dataset
    folder = index.split.images

    def broken(name):
        raise DataError(f"{folder / name}: cannot read image: [Errno 5] Input/output error: '{folder / name}'")
    monkeypatch.setattr(index, "image", broken)
    r = client.post("/api/transfer", data={"condition_name": "person0.png", "target_name": "person1.png"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("test/person0.png: cannot read image")
    assert_no_server_path(r, env)


# --- uploads decoded shrunk, a few at a time -----------------------------------------------------

def encoded(array, fmt="PNG", **kw):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def person_photo(scale=1):
    """A (64 x 32) x 4 person image, each pixel repeated ``scale`` times per side."""
    small = np.asarray(Image.open(io.BytesIO(png((SIZE[0] * 4, SIZE[1] * 4), (90, 140, 200)))))
    small = small.copy()
    small[40:200, 30:100] = (200, 60, 40)  # a red "person"
    return np.repeat(np.repeat(small, scale, 0), scale, 1)


def test_uploads_are_decoded_to_four_times_the_model_size():
    big = person_photo(scale=8)  # 2048 x 1024
    up = decode_upload(encoded(big), UploadLimits(), model_size=SIZE)
    assert up.size == (2048, 1024) and up.factor == 8 and up.image.shape == (256, 128, 3)
    assert (up.image == person_photo(1)).all()  # the mean of equal 8 x 8 blocks
    jpeg = decode_upload(encoded(big, "JPEG", quality=95), UploadLimits(), model_size=SIZE)
    assert jpeg.factor == 8 and jpeg.image.shape == (256, 128, 3)  # 1/8 by the JPEG decoder itself
    assert np.abs(jpeg.image.astype(int) - person_photo(1)).mean() < 4
    small = decode_upload(encoded(person_photo(1)), UploadLimits(), model_size=SIZE)
    assert small.factor == 1 and (small.image == decode_image(encoded(person_photo(1)), UploadLimits())).all()


def test_a_turned_jpeg_is_shrunk_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: stored 1024 wide, 2048 high once upright
    wide = np.ascontiguousarray(np.rot90(person_photo(scale=8), 1))
    up = decode_upload(encoded(wide, "JPEG", exif=exif.tobytes()), UploadLimits(), model_size=SIZE)
    assert up.size == (2048, 1024) and up.image.shape == (256, 128, 3)
    assert np.abs(up.image.astype(int) - person_photo(1)).mean() < 4


def test_a_large_upload_and_its_pose_give_what_the_shrunk_photo_gives(client):
    kp = np.array(person_pose(1), dtype=float) * 4  # in the 256 x 128 photo
    small = client.post("/api/transfer?format=json", files={"condition": ("p.png", encoded(person_photo(1)))},
                        data={"source_pose": pose_text(None, kp), "target_name": "person2.png"}).json()
    big_kp = np.where(kp == -1, -1, (kp + 0.5) * 8 - 0.5)  # the same pixel centres in the 8x photo
    big = client.post("/api/transfer?format=json", files={"condition": ("p.png", encoded(person_photo(8)))},
                      data={"source_pose": pose_text(None, big_kp), "target_name": "person2.png"}).json()
    assert big["source_pose"] == small["source_pose"] and big["image"] == small["image"]
    fit_small = client.post("/api/fit", files={"image": ("p.png", encoded(person_photo(1)))}).content
    assert client.post("/api/fit", files={"image": ("p.png", encoded(person_photo(8)))}).content == fit_small


def test_the_estimated_pose_of_a_shrunk_upload_is_in_the_photo_frame(env):
    seen = []

    def estimator(image):  # a "person" at fixed fractions of whatever it is shown
        seen.append(image.shape)
        return np.array(person_pose(1), dtype=float) / np.array(SIZE) * np.array(image.shape[:2])
    client = TestClient(create_app(env / "g.safetensors", env / "data", estimator=estimator))
    r = client.post("/api/pose", files={"image": ("p.png", encoded(person_photo(8)))})
    assert r.status_code == 200 and seen[-1] == (256, 128, 3)
    assert r.json()["image_size"] == [2048, 1024]
    expected = np.array(person_pose(1), dtype=float) / np.array(SIZE) * np.array([2048, 1024])
    got = np.array(r.json()["keypoints"])
    assert np.abs(got - expected)[expected[:, 0] >= 0].max() <= 8  # one decoded pixel


def test_the_pixel_limit_is_sized_to_the_model_jpeg_decoded_at_one_eighth(client):
    limit = (32 * SIZE[0]) * (32 * SIZE[1])  # 2048 x 1024 for the 64 x 32 model
    flat = np.full((1500, 1500, 3), 120, np.uint8)  # 2.25 MP
    r = client.post("/api/fit", files={"image": ("p.png", encoded(flat))})
    assert r.status_code == 413 and f"above the limit of {limit:,} for this 64x32 model" in r.json()["detail"]
    assert client.post("/api/fit", files={"image": ("p.jpg", encoded(flat, "JPEG"))}).status_code == 200
    health = client.get("/api/health").json()["limits"]
    assert health["max_decoded_pixels"] == limit and health["max_pixels"] == 25_000_000


def test_past_the_slots_and_the_queue_uploads_get_503_with_retry_after():
    slots = DecodeSlots(slots=1, queue=1, wait=5)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with slots("a"):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    waiter = ThreadPoolExecutor(1).submit(lambda: slots("b").__enter__())  # queued behind the holder
    time.sleep(0.2)
    with pytest.raises(ClientError) as e:
        with slots("c"):
            pass
    assert e.value.status == 503 and e.value.headers == {"Retry-After": "2"}
    release.set()
    holder.join()
    waiter.result(5)  # got the slot once the holder left


# --- a real server under a burst -----------------------------------------------------------------

def bomb_png(width=5000, height=4990) -> bytes:
    """A plain image of width x height (under 25 megapixels) that compresses to some 80 KB."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (180, 120, 90)).save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status")
def test_a_real_server_survives_a_burst_of_large_uploads_with_bounded_memory(tmp_path):
    """20 concurrent uploads of a 5000x4990 PNG (25 MP: 100 MB each once decoded, 6 GB before the
    slots) and hostile requests, against ``pona serve`` with a 256x176 model (its pixel limit
    admits the PNG, so it is really decoded). Every answer is 200, 4xx or 503 (none dropped), the
    server still answers, its peak RSS stays below 1.5 GB and it returns to its idle RSS."""
    httpx = pytest.importorskip("httpx")
    size = (256, 176)
    make_checkpoint(tmp_path / "g.safetensors", size=size)
    make_dataset(tmp_path / "data", size=size)
    upload, started = bomb_png(), time.monotonic()
    with pona_serve(tmp_path / "g.safetensors", tmp_path / "data") as (proc, url):
        by_name = {"condition_name": "person0.png", "target_name": "person1.png"}
        for _ in range(3):  # warm up: the first generations allocate what later ones reuse
            assert httpx.post(url + "/api/transfer", data=by_name, timeout=60).status_code == 200
        idle = memory_mb(proc.pid)["VmRSS"]

        def send(i):
            if i % 4 == 3:  # the upload as the person to generate, with its pose
                kp = (np.array(person_pose(1, size), dtype=float) * 19).tolist()
                return httpx.post(url + "/api/transfer", files={"condition": ("big.png", upload)},
                                  data={"source_pose": json.dumps({"keypoints": kp}), "target_name": "person1.png"},
                                  timeout=120)
            return httpx.post(url + "/api/fit", files={"image": ("big.png", upload)}, timeout=120)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(send, range(20)))  # a dropped connection raises here
        codes = [r.status_code for r in answers]
        assert set(codes) <= {200, 503} and 200 in codes, codes
        assert all(r.headers.get("retry-after") for r in answers if r.status_code == 503)

        hostile = [HOSTILE["100k-deep JSON"], HOSTILE["5000-digit number"], pose_text([10**9, 10**9])]
        for text in hostile:
            r = httpx.post(url + "/api/animate", data={"condition_name": "person0.png", "target_pose": text}, timeout=60)
            assert r.status_code == 422 and str(tmp_path) not in r.text, r.text
        (tmp_path / "data" / "test" / "person3.png").unlink()
        r = httpx.get(url + "/api/dataset/person3.png/image", timeout=60)
        assert r.status_code == 404 and str(tmp_path) not in r.text, r.text

        for _ in range(3):  # ordinary requests still served
            assert httpx.post(url + "/api/transfer", data=by_name, timeout=60).status_code == 200
        assert httpx.get(url + "/api/health", timeout=10).status_code == 200
        mem = memory_mb(proc.pid)
    # Peak: idle (~400 MB: torch, the model) + 2 decode slots x ~100 MB; measured 630-720 MB.
    assert mem["VmHWM"] < 1500, mem
    # After: within 10% of idle, or 50 MB (threads' stacks and the first requests' lasting objects;
    # measured +0 to +20 MB over ~390 MB), whichever is larger.
    assert mem["VmRSS"] <= max(1.10 * idle, idle + 50), (idle, mem)
    assert time.monotonic() - started < 120
