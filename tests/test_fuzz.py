"""Property-based fuzz of the three parsers a user feeds by hand: pose JSON, PATN annotation CSV,
training config (YAML file and ``section.key=value`` overrides).

The one property: each either succeeds or raises a :class:`pona.errors.PonaError` (DataError,
ConfigError, ...), which the CLI prints as one line. Any other exception is a traceback for the user.
Bounded so the whole file runs in seconds (``max_examples`` per test, no deadline for slow disks).
"""

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings  # the dev extra: pip install -e ".[dev]"
from hypothesis import strategies as st

from pona.data.layout import ANNOTATION_HEADER, keypoint_faults, read_annotations
from pona.data.posefile import READ_FORMATS, read_pose
from pona.data.validate import validate
from pona.errors import PonaError
from pona.train.config import SECTIONS, TrainConfig, load_config

# PONA_FUZZ_EXAMPLES=5000 for a longer hunt; 200 keeps the file at ~10 s.
FUZZ = settings(max_examples=int(os.environ.get("PONA_FUZZ_EXAMPLES", 200)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Numbers a hand-edited or machine-written file can hold: huge, tiny, NaN, inf, -1, fractions.
numbers = st.one_of(
    st.integers(min_value=-10, max_value=300),
    st.integers(),
    st.sampled_from([-1, 0, 10**30, -(10**30), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1.5, -1.0, -0.5, float("nan"), float("inf"), float("-inf")]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=6),
                               st.dictionaries(st.text(max_size=12), children, max_size=6)),
    max_leaves=40,
)


def pair_lists(value, n):
    """Lists of about ``n`` [y, x] pairs, some not pairs, of ``value``s."""
    pair = st.one_of(st.lists(value, min_size=2, max_size=2), st.lists(value, max_size=4), value)
    return st.lists(pair, min_size=max(0, n - 1), max_size=n + 1)


# Objects shaped like each known pose format, with arbitrary values where numbers belong.
coords = st.one_of(st.integers(-1, 300), st.floats(0, 300), st.just(-1))
near_pose = st.one_of(
    st.fixed_dictionaries({"keypoints": st.lists(st.lists(coords, min_size=2, max_size=2), min_size=18, max_size=18)},
                          optional={"image_size": st.lists(st.integers(-1, 400), min_size=2, max_size=2)}),
    st.fixed_dictionaries({"keypoints": pair_lists(numbers, 18)},
                          optional={"image_size": st.one_of(st.lists(numbers, max_size=3), json_values),
                                    "format": scalars, "joints": json_values}),
    st.fixed_dictionaries({"people": st.lists(st.fixed_dictionaries(
        {"pose_keypoints_2d": st.lists(numbers, min_size=50, max_size=80)}), max_size=3)},
        optional={"canvas_width": numbers, "canvas_height": numbers}),
    st.fixed_dictionaries({"annotations": st.lists(st.fixed_dictionaries(
        {"keypoints": st.lists(numbers, min_size=50, max_size=53), "image_id": numbers}), max_size=3)},
        optional={"images": st.lists(st.dictionaries(st.sampled_from(["id", "width", "height"]), numbers))}),
    st.lists(st.fixed_dictionaries({"x": numbers, "y": numbers, "z": numbers, "visibility": numbers}),
             min_size=32, max_size=34),
)


@pytest.fixture(scope="module")
def scratch():
    # Hypothesis reruns a test body many times: a function-scoped tmp_path would be shared anyway.
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def succeeds_or_pona_error(fn, *args, **kwargs):
    """The property: fn returns, or raises a PonaError; anything else fails the test."""
    try:
        return fn(*args, **kwargs)
    except PonaError as e:
        assert str(e).strip() and "Traceback" not in str(e)
        return None


def dump(value) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except (ValueError, RecursionError):  # ints over Python's digit limit
        return json.dumps(repr(value))


# -- pose JSON ------------------------------------------------------------------------------------

@FUZZ
@given(obj=st.one_of(json_values, near_pose), fmt=st.one_of(st.none(), st.sampled_from(READ_FORMATS)),
       size=st.one_of(st.none(), st.tuples(st.integers(1, 512), st.integers(1, 512))))
def test_pose_json_any_value(scratch, obj, fmt, size):
    path = scratch / "pose.json"
    path.write_text(dump(obj), encoding="utf-8")
    pose = succeeds_or_pona_error(read_pose, path, format=fmt, image_size=size)
    if pose is not None:
        kp = pose.keypoints
        assert kp.shape == (18, 2) and all(math.isfinite(v) for v in kp.ravel())
        assert ((kp >= 0) | (kp == -1)).all()


@FUZZ
@given(data=st.one_of(st.binary(max_size=400),
                      st.builds(lambda s, b: s.encode() + b, st.sampled_from(['{"keypoints": [', '[', '{"people": ']), st.binary(max_size=40)),
                      st.builds(lambda n: b"[" * n + b"]" * n, st.integers(0, 200_000)),
                      st.builds(lambda n: b'{"keypoints": ' + b"9" * n + b"}", st.integers(1, 20_000))))
def test_pose_json_any_bytes(scratch, data):
    path = scratch / "bytes.json"
    path.write_bytes(data)
    succeeds_or_pona_error(read_pose, path)


# -- PATN annotation CSV --------------------------------------------------------------------------

def coord_field(value):
    """A keypoints field: mostly a JSON list of about 18 values, sometimes arbitrary text."""
    return st.one_of(st.builds(dump, st.lists(value, min_size=16, max_size=19)),
                     st.builds(lambda v: dump([v] * 18), value), st.text(max_size=30))


near_row = st.builds(
    lambda name, ys, xs, sep: sep.join([name, ys, xs]),
    st.one_of(st.sampled_from(["a.jpg", "b.png", " ", ""]), st.text(max_size=15)),
    coord_field(numbers), coord_field(st.one_of(numbers, scalars)),
    st.sampled_from([":", ":", ":", ",", "::"]),
)


good_row = st.builds(lambda name, kp: f"{name}:{dump([y for y, _ in kp])}:{dump([x for _, x in kp])}",
                     st.sampled_from(["a.jpg", "b.jpg", "c d.png"]),
                     st.lists(st.one_of(st.tuples(st.integers(0, 300), st.integers(0, 300)), st.just((-1, -1)),
                                        st.tuples(st.integers(-3, 3), st.integers(-3, 3)), st.just((1.5, 2))),
                              min_size=18, max_size=18))


@FUZZ
@given(rows=st.lists(st.one_of(good_row, near_row, st.text(max_size=80)), max_size=6),
       header=st.one_of(st.just(ANNOTATION_HEADER), st.just("\ufeff" + ANNOTATION_HEADER), st.text(max_size=40)),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_annotation_csv_any_text(scratch, rows, header, newline):
    path = scratch / "x-annotation-test.csv"
    path.write_text(newline.join([header] + rows) + newline, encoding="utf-8", errors="surrogatepass")
    ann = succeeds_or_pona_error(read_annotations, path)
    for kp in (ann or {}).values():  # what the reader returns holds whole pixels, -1 only as (-1, -1)
        assert kp.shape == (18, 2) and kp.dtype == np.int64 and keypoint_faults(kp.astype(float)) == []
    if ann:
        name = next(iter(ann))
        if ".csv:" not in name:
            succeeds_or_pona_error(read_pose, f"{path}:{name}")
    # The validator parses the same rows and must report, never raise (no images here: layout errors).
    report = validate(scratch, splits="test")
    assert not report.ok


@FUZZ
@given(data=st.binary(max_size=300))
def test_annotation_csv_any_bytes(scratch, data):
    path = scratch / "y-annotation-train.csv"
    path.write_bytes(ANNOTATION_HEADER.encode() + b"\n" + data)
    succeeds_or_pona_error(read_annotations, path)
    path.unlink()


@FUZZ
@given(rows=st.lists(st.one_of(
    st.builds(lambda v: ",".join(map(str, v)), st.lists(st.one_of(numbers, st.text(max_size=5)), min_size=3, max_size=5)),
    st.text(max_size=40)), max_size=40),
    header=st.sampled_from(["landmark,x,y,z,visibility", "x,y,visibility", "x,y", ""]))
def test_mediapipe_csv_any_text(scratch, rows, header):
    path = scratch / "landmarks.csv"  # a .csv read_pose takes as MediaPipe landmarks
    path.write_text("\n".join([header] + rows), encoding="utf-8", errors="surrogatepass")
    succeeds_or_pona_error(read_pose, path, image_size=(256, 176))


# -- training config ------------------------------------------------------------------------------

KEYS = [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(type(getattr(TrainConfig(), s)))]
override = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS),
              st.one_of(st.text(max_size=20), st.builds(str, numbers),
                        st.sampled_from(["", "nan", "inf", "-1", "1e400", "true", "null", "[1, 2]", "3x", "64x-1",
                                         "0x0", "1" * 5000]))),
    st.builds(lambda k, v: f"{k}={v}", st.text(max_size=20), st.text(max_size=10)),
    st.text(max_size=40),
)


@FUZZ
@given(overrides=st.lists(override, max_size=4))
def test_config_overrides(overrides):
    succeeds_or_pona_error(load_config, "synth-market", overrides)


section_dict = st.dictionaries(
    st.one_of(st.sampled_from([k.split(".")[1] for k in KEYS]), st.text(max_size=8), st.none(), st.integers()),
    st.one_of(scalars, st.lists(numbers, max_size=3), json_values), max_size=5)
yaml_docs = st.one_of(
    st.builds(lambda d: yaml.safe_dump(d, allow_unicode=True),
              st.dictionaries(st.one_of(st.sampled_from(list(SECTIONS)), st.text(max_size=8), st.none(),
                                        st.integers(), st.booleans()),
                              st.one_of(section_dict, scalars), max_size=4)),
    st.text(max_size=200),
    st.sampled_from(["model: {ngf: .nan}", "optim: {lr: .inf}", "data: {image_size: [1e400, 2]}",
                     "a: &x [*x]", "model:\n  ngf: !!python/object:os.system x", "- 1\n- 2", "!!binary 'AAAA'",
                     "run: {seed: " + "9" * 5000 + "}", "[" * 50]),  # deeper: see the regression tests
)


@FUZZ
@given(text=yaml_docs, overrides=st.lists(override, max_size=2))
def test_config_yaml_text(scratch, text, overrides):
    path = scratch / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    succeeds_or_pona_error(load_config, path, overrides)


@FUZZ
@given(data=st.binary(max_size=200))
def test_config_yaml_bytes(scratch, data):
    path = scratch / "b.yaml"
    path.write_bytes(data)
    succeeds_or_pona_error(load_config, path)


# -- regressions: what the fuzz found, each now one DataError/ConfigError line -------------------

ROW18 = "a.jpg:[{y}" + ", -1" * 17 + "]:[{x}" + ", -1" * 17 + "]"


@pytest.mark.parametrize("y, x, message", [
    ("-9223372036854775809", "0", "nose .* negative"),                    # was OverflowError (int64 cast)
    ("9223372036854775808", "0", "too large to be a pixel coordinate"),   # the same, positive
    ("1e300", "5", "too large to be a pixel coordinate"),                 # was a cast to a garbage int
    ("1" * 5000, "5", "number too long to be a coordinate"),              # was ValueError (int digit limit)
    ("1" * 400, "5", "number too large to be a coordinate"),              # int beyond float range
])
def test_annotation_numbers_too_large_are_one_line(tmp_path, y, x, message):
    path = tmp_path / "x-annotation-train.csv"
    path.write_text(ANNOTATION_HEADER + "\n" + ROW18.format(y=y, x=x) + "\n")
    with pytest.raises(PonaError, match=f"^{path}:2: .*{message}"):
        read_annotations(path)
    assert not validate(tmp_path, splits="train").ok  # the validator reports it, never raises


def test_annotation_and_pairs_csv_not_utf8_name_the_line(tmp_path):
    from pona.data.layout import read_pairs
    path = tmp_path / "x-annotation-train.csv"  # was UnicodeDecodeError
    path.write_bytes(ANNOTATION_HEADER.encode() + b"\n" + ROW18.format(y=1, x=1).encode() + b"\ncaf\xe9.jpg:[]:[]\n")
    with pytest.raises(PonaError, match=rf"^{path}:3: not UTF-8 text \(byte 0xe9\); save the annotation file as UTF-8$"):
        read_annotations(path)
    pairs = tmp_path / "x-pairs-train.csv"
    pairs.write_bytes(b"from,to\n\xff,a.jpg\n")
    with pytest.raises(PonaError, match=rf"^{pairs}:2: not UTF-8 text \(byte 0xff\)"):
        read_pairs(pairs)


@pytest.mark.parametrize("override", ["model.n_blocks=\x1f", "run.seed=" + "9" * 5000, "model.ngf=" + "[" * 2000])
def test_config_override_that_is_not_yaml_is_one_line(override):  # was yaml.ReaderError, ValueError, RecursionError
    with pytest.raises(PonaError, match=r"^override '.*must be int"):
        load_config("synth-market", [override])


@pytest.mark.parametrize("text, message", [
    ("run: {seed: " + "9" * 5000 + "}", "a number in the YAML is too long"),  # was ValueError
    ("?", "unknown key None"),                                                 # was TypeError (difflib)
    ("model: {1: 2}", "model: unknown key 1"),                                 # the same, in a section
    ("[" * 2000, "YAML nested too deeply"),                                    # was RecursionError
])
def test_config_yaml_too_long_or_deep_is_one_line(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(PonaError, match=f"^{path}: {message}"):
        load_config(path)
