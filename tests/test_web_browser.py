"""End to end in a real headless Chromium (Debian's ``chromium``) driven by Playwright.

Skipped, with the reason, only where no browser or no Playwright is installed. Set
``PONA_WEB_SCREENSHOT=docs/web-screenshot.png`` to also save the screenshot for the README;
``PONA_WEB_CHECKPOINT`` and ``PONA_WEB_DATA`` run the page on a real model and dataset instead of
the tiny random ones (for that screenshot).
"""

import base64
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from web_helpers import make_checkpoint, make_dataset, png, web_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium():
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_server(tmp_path):
    """Start the app under uvicorn in a thread on a free port; returns its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    from pona.web.app import create_app

    servers = []

    def start(estimator=None):
        checkpoint = os.environ.get("PONA_WEB_CHECKPOINT") or make_checkpoint(tmp_path / "g.safetensors")
        data = os.environ.get("PONA_WEB_DATA")
        if data is None:
            data = tmp_path / "data"
            if not data.exists():
                make_dataset(data)
        app = create_app(checkpoint, data, estimator=estimator)
        port = free_port()
        srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        servers.append((srv, thread))
        deadline = time.monotonic() + 30
        while not srv.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for srv, thread in servers:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture
def page():
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium at /usr/bin/chromium or on PATH (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        yield pg
        browser.close()


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"), dtype=np.int16)


def joint_center(page, svg: str, joint: int):
    box = page.locator(f"#{svg} circle[data-joint='{joint}']").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_pick_drag_generate_hover_animate_in_a_browser(server, page, tmp_path):
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert "64×32" in page.inner_text("#status") or os.environ.get("PONA_WEB_CHECKPOINT")
    names = page.eval_on_selector_all(".thumb", "ts => ts.map(t => t.dataset.name)")
    condition, target = names[-2], names[-1]

    # Choose a person, then a target pose, from the dataset.
    page.click(f".thumb[data-name='{condition}']")
    page.check("input[name=pick][value=target]")
    # on real data a wrist can be missing or lie under another joint: take a target pose whose
    # right wrist is the element under the pointer (the toy data's last image always qualifies)
    for target in [target, *names[-3::-1]]:
        page.click(f".thumb[data-name='{target}']")
        page.locator("#target-svg").scroll_into_view_if_needed()  # a larger model's page scrolls
        if page.locator("#target-svg circle[data-joint='4']").bounding_box() is None:
            continue
        x, y = joint_center(page, "target-svg", 4)
        if page.evaluate(f"document.elementFromPoint({x}, {y})?.dataset?.joint") == "4":
            break
    assert page.get_attribute(f".thumb[data-name='{target}']", "class").endswith("selected-target")

    # Drag the right wrist of the target pose 40 px right and 30 px up (screen pixels).
    before = page.get_attribute("#target-svg circle[data-joint='4']", "cx")
    x, y = joint_center(page, "target-svg", 4)
    page.mouse.move(x, y)
    page.mouse.down()
    box = page.locator("#target-svg").bounding_box()
    dx = 40 if x < box["x"] + box["width"] / 2 else -40  # towards the middle: joints stay in the frame
    page.mouse.move(x + dx / 2, y - 15, steps=4)
    page.mouse.move(x + dx, y - 30, steps=4)
    page.mouse.up()
    after_x, after_y = joint_center(page, "target-svg", 4)
    assert abs(after_x - (x + dx)) < 3 and abs(after_y - (y - 30)) < 3, (x, y, after_x, after_y, box)
    assert page.get_attribute("#target-svg circle[data-joint='4']", "cx") != before

    # Hide a joint: its circle disappears from the skeleton.
    page.click("#joints-box summary")
    page.uncheck("#joints input[data-joint='17']")
    assert page.locator("#target-svg circle[data-joint='17']").count() == 0

    # Generate: the result appears, differs from the person's image and from the undragged pose's result.
    page.click("#generate")
    page.wait_for_selector("#result-img:not([hidden])", timeout=30_000)
    result = decode_data_url(page.get_attribute("#result-img", "src"))
    assert page.get_attribute("#download", "href").startswith("data:image/png")
    cond_png = page.request.get(f"{server}/api/dataset/{condition}/image?fit=1").body()
    cond = np.asarray(Image.open(io.BytesIO(cond_png)).convert("RGB"), dtype=np.int16)
    assert result.shape == cond.shape
    assert np.abs(result - cond).mean() > 2
    undragged = page.request.post(f"{server}/api/transfer", multipart={"condition_name": condition, "target_name": target})
    undragged = np.asarray(Image.open(io.BytesIO(undragged.body())).convert("RGB"), dtype=np.int16)
    assert np.abs(result - undragged).max() > 0, "the dragged joint did not reach the generator"

    # Hover the result: each block's attention is drawn over the person's image.
    box = page.locator("#result-stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
    page.wait_for_function("""() => {
        const c = document.getElementById('cond-heat');
        if (!c.width) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
        return false; }""", timeout=10_000)
    # one canvas per block (of the tiny generator, unless the page runs on a real model)
    assert page.locator("#attention canvas").count() == web_config().n_blocks or os.environ.get("PONA_WEB_CHECKPOINT")

    # Animation between the person's pose and the target pose.
    page.fill("#anim-frames", "4")
    page.click("#animate")
    page.wait_for_selector("#anim-img:not([hidden])", timeout=30_000)
    assert page.get_attribute("#anim-img", "src").startswith("data:image/png")

    page.screenshot(path=str(tmp_path / "web.png"), full_page=True)
    if os.environ.get("PONA_WEB_SCREENSHOT"):
        Path(os.environ["PONA_WEB_SCREENSHOT"]).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=os.environ["PONA_WEB_SCREENSHOT"], full_page=True)
    assert not [e for e in page.errors if "favicon" not in e], page.errors


def test_upload_without_pose_estimator_shows_a_clear_message(server, page, tmp_path):
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    photo = tmp_path / "me.png"
    photo.write_bytes(png((120, 90)))
    page.set_input_files("#cond-file", str(photo))
    page.wait_for_selector("#cond-msg.warn", timeout=10_000)
    assert "pose estimation is unavailable" in page.inner_text("#cond-msg")
    assert page.get_attribute("#cond-img", "src").startswith("blob:")  # the fitted photo is shown
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    page.set_input_files("#cond-file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=10_000)
    assert "not an image" in page.inner_text("#error")


def test_uploaded_photo_gets_its_estimated_pose_drawn_over_it(start_server, page, tmp_path):
    def estimator(image):  # the nose at the photo's centre, nothing else
        kp = np.full((18, 2), -1.0)
        kp[0] = (image.shape[0] / 2, image.shape[1] / 2)
        return kp

    page.goto(start_server(estimator))
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    photo = tmp_path / "me.png"
    photo.write_bytes(png((128, 64)))  # twice the model size: the nose (64, 32) lands at (31.75, 15.75)
    page.set_input_files("#cond-file", str(photo))
    page.wait_for_selector("#cond-msg:has-text('Pose estimated')", timeout=10_000)
    nose = page.locator("#cond-svg circle[data-joint='0']")
    assert (float(nose.get_attribute("cy")), float(nose.get_attribute("cx"))) == (31.75, 15.75)
    assert page.locator("#cond-svg circle").count() == 1  # the joints it did not find are hidden
    page.click("#generate")
    page.wait_for_selector("#result-img:not([hidden])", timeout=30_000)
