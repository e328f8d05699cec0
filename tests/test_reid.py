import csv
import dataclasses
import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from pona import save_generator
from pona.data import read_annotations, to_tensor, to_uint8, write_annotations
from pona.errors import CheckpointError, DataError, PonaError
from pona.models import Generator, load_generator
from pona.pose import heatmaps
from pona.reid import (
    ReIDConfig, ReIDTrainConfig, ResNet, augment_market, average_precision, build_reid_model, distance_matrix,
    evaluate_ranking, format_market_name, group_by_identity, kept_count, load_reid, parse_market_name,
    read_manifest, select_portion, train_reid,
)
from pona.reid import augment as augment_module
from released_reference import randomize
from helpers import TINY_CONFIG, run_cli

SIZE = TINY_CONFIG.image_size


pytestmark = pytest.mark.usefixtures("one_thread")


def person_image(pid, frame, size=SIZE):
    """A person of identity ``pid``: two colour blocks of its own (shirt, trousers) plus frame noise."""
    h, w = size
    rng = np.random.default_rng([pid + 1])  # junk is -1
    shirt, trousers = rng.integers(0, 256, (2, 3))
    img = np.zeros((h, w, 3), np.float64)
    img[: h // 2] = shirt
    img[h // 2:] = trousers
    img += np.random.default_rng([pid + 1, frame, 1]).normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def random_pose(pid, frame, size=SIZE):
    rng = np.random.default_rng([pid, frame, 2])
    kp = np.stack([rng.integers(0, size[0], 18), rng.integers(0, size[1], 18)], 1)
    kp[rng.random(18) < 0.2] = -1
    return kp


def write_folder(folder, specs, size=SIZE):
    """Images named in the Market convention; specs: (identity, camera, frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for pid, cam, frame in specs:
        name = format_market_name(pid, cam, 1, frame, 1)
        Image.fromarray(person_image(pid, frame, size)).save(folder / name, quality=95)
        names.append(name)
    return names


def make_market_patn(root, counts={2: 5, 3: 3, 7: 1}):
    """A PATN-layout Market-like dataset (train/ + annotations) with query/ and bounding_box_test/.

    Its own writer, not the tiny world's (conftest): re-ID reads Market-1501's raw layout (query/,
    bounding_box_test/ with a distractor, id -1), JPEG names with camera and frame, and a chosen
    number of images per identity, none of which the synthetic set writes."""
    specs = [(pid, 1 + f % 3, f) for pid, n in counts.items() for f in range(n)]
    names = write_folder(root / "train", specs)
    poses = {n: random_pose(pid, f) for n, (pid, _, f) in zip(names, specs)}
    write_annotations(root / "market-annotation-train.csv", poses)
    write_folder(root / "query", [(20, 1, 0)])
    write_folder(root / "bounding_box_test", [(20, 2, 1), (-1, 1, 2)])
    return poses


def tiny_generator(path):
    g = randomize(Generator(dataclasses.replace(TINY_CONFIG, norm="batch", image_size=SIZE)), seed=3)
    save_generator(g, path)
    return path


# --- Market names and the portion selection -------------------------------------------------------

def test_market_name_parse_and_format_round_trip():
    m = parse_market_name("0002_c1s1_000451_03.jpg")
    assert (m.identity, m.camera, m.sequence, m.frame, m.box, m.suffix) == (2, 1, 1, 451, 3, ".jpg")
    assert m.format() == "0002_c1s1_000451_03.jpg" and not m.is_junk
    for name in ("1500_c6s4_002202_04.jpg", "-1_c3s2_000100_01.jpg", "0000_c5s3_065187_02.png"):
        assert parse_market_name(name).format() == name
    assert format_market_name(17, 4, 2, 31, 5) == "0017_c4s2_000031_05.jpg"
    assert parse_market_name("-1_c3s2_000100_01.jpg").identity == -1
    assert parse_market_name("-1_c3s2_000100_01.jpg").is_junk and parse_market_name("0000_c1s1_000001_01.jpg").is_junk


@pytest.mark.parametrize("name", ["person.jpg", "0002_c1_000451_03.jpg", "00a2_c1s1_000451_03.jpg", "-2_c1s1_000001_01.jpg"])
def test_non_market_name_is_a_data_error(name):
    with pytest.raises(DataError, match="not a Market-1501 name"):
        parse_market_name(name)


@pytest.mark.parametrize("portion, n, kept", [
    (0.2, 5, 1), (0.6, 5, 3), (0.5, 3, 2), (0.1, 5, 1), (0.25, 10, 3), (0.2, 2, 1), (0.2, 1, 1),
    (0.4, 1, 1), (1.0, 7, 7), (0.8, 26, 21),
])
def test_kept_count_rounds_half_up_and_keeps_at_least_one(portion, n, kept):
    assert kept_count(n, portion) == kept


def test_portion_selection_keeps_every_identity_and_the_right_counts():
    groups = {2: [f"0002_c1s1_{i:06d}_01.jpg" for i in range(5)], 3: [f"0003_c2s1_{i:06d}_01.jpg" for i in range(3)],
              7: ["0007_c1s1_000000_01.jpg"], 11: [f"0011_c3s1_{i:06d}_01.jpg" for i in range(10)]}
    kept, repl = select_portion(groups, 0.2, seed=0)
    per_id = {pid: sum(parse_market_name(n).identity == pid for n in kept) for pid in groups}
    assert per_id == {2: 1, 3: 1, 7: 1, 11: 2}
    everything = {n for names in groups.values() for n in names}
    assert {r.target for r in repl} == everything - set(kept) and len(kept) + len(repl) == len(everything)
    for r in repl:  # a replacement comes from a kept image of its own identity
        assert r.source in kept and parse_market_name(r.source).identity == parse_market_name(r.target).identity
    assert select_portion(groups, 0.2, seed=0) == (kept, repl)
    assert select_portion(groups, 0.2, seed=1)[0] != kept
    full, none = select_portion(groups, 1.0, seed=0)
    assert full == sorted(everything) and none == []


def test_group_by_identity_sorts_and_rejects_foreign_names():
    assert group_by_identity(["0003_c1s1_000002_01.jpg", "0002_c1s1_000001_01.jpg", "0003_c1s1_000001_01.jpg"]) == {
        2: ["0002_c1s1_000001_01.jpg"], 3: ["0003_c1s1_000001_01.jpg", "0003_c1s1_000002_01.jpg"]}
    with pytest.raises(DataError):
        group_by_identity(["img1.jpg"])


# --- mAP and CMC ------------------------------------------------------------------------------------

# Gallery: identities and cameras. Index 3 is junk (-1), index 4 a distractor (0000).
G_IDS, G_CAMS = [1, 1, 2, -1, 0, 1], [1, 2, 2, 1, 3, 1]
# Queries: (identity 1, cam 1), (2, cam 1), (3, cam 1: no match), (-1: junk), (1, cam 3).
Q_IDS, Q_CAMS = [1, 2, 3, -1, 1], [1, 1, 1, 1, 3]
DIST = np.array([
    [0.1, 0.5, 0.3, 0.05, 0.2, 0.0],  # nearest: 5 and 0 (same id, same cam: excluded), 3 junk -> 4, 2, 1
    [0.4, 0.3, 0.1, 0.0, 0.5, 0.2],   # 3 junk -> 2 (hit), 5, 1, 0, 4
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    [0.2, 0.6, 0.1, 0.0, 0.3, 0.5],   # 3 junk -> 2, 0 (hit), 4, 5 (hit), 1 (hit)
])


def test_average_precision_by_hand():
    # hits at 0-based ranks 1, 3, 4: precisions 1/2, 2/4, 3/5; before them 0, 1/3, 2/4
    assert average_precision([1, 3, 4]) == pytest.approx(((0 + 1 / 2) / 2 + (1 / 3 + 1 / 2) / 2 + (1 / 2 + 3 / 5) / 2) / 3)
    assert average_precision([1, 3, 4], ap="mean-precision") == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / 3)
    assert average_precision([0, 1]) == average_precision([0, 1], ap="mean-precision") == 1.0


def test_evaluate_ranking_on_a_hand_made_distance_matrix():
    r = evaluate_ranking(DIST, Q_IDS, Q_CAMS, G_IDS, G_CAMS)
    ap0 = Fraction(1, 2) * (0 + Fraction(1, 3))                      # hit at rank 2, after the distractor
    ap4 = (Fraction(1, 4) + Fraction(5, 12) + Fraction(11, 20)) / 3
    assert r["mAP"] == pytest.approx(float((ap0 + 1 + ap4) / 3))
    assert r["rank1"] == pytest.approx(1 / 3) and r["rank5"] == r["rank10"] == 1.0
    assert (r["queries"], r["skipped"]) == (3, 2)


def test_same_camera_exclusion_and_distractors_change_the_result():
    # Without the same-camera rule query 0 would hit at rank 0 (gallery 5 at distance 0).
    cams_elsewhere = [9] * 6
    r = evaluate_ranking(DIST[:1], Q_IDS[:1], Q_CAMS[:1], G_IDS, cams_elsewhere)
    assert r["rank1"] == 1.0
    r = evaluate_ranking(DIST[:1], Q_IDS[:1], Q_CAMS[:1], G_IDS, G_CAMS)
    assert r["rank1"] == 0.0 and r["mAP"] == pytest.approx(1 / 6)
    # Excluding distractors (0000) as well: query 0 hits at rank 1, query 4 at ranks 1, 2, 3.
    r = evaluate_ranking(DIST, Q_IDS, Q_CAMS, G_IDS, G_CAMS, junk_ids=(-1, 0))
    ap0, ap4 = Fraction(1, 4), (Fraction(1, 4) + Fraction(7, 12) + Fraction(17, 24)) / 3
    assert r["mAP"] == pytest.approx(float((ap0 + 1 + ap4) / 3))
    r = evaluate_ranking(DIST, Q_IDS, Q_CAMS, G_IDS, G_CAMS, junk_ids=(-1, 0), ap="mean-precision")
    assert r["mAP"] == pytest.approx((1 / 2 + 1 + (1 / 2 + 2 / 3 + 3 / 4) / 3) / 3)


def test_identical_query_and_gallery_features_give_a_perfect_ranking():
    rng = np.random.default_rng(0)
    feats = torch.tensor(rng.normal(size=(4, 8)), dtype=torch.float32)
    ids, cams = [1, 2, 3, 4], [1, 1, 1, 1]
    for distance in ("cosine", "euclidean"):
        r = evaluate_ranking(distance_matrix(feats, feats, distance).numpy(), ids, cams, ids, [2, 2, 2, 2])
        assert (r["mAP"], r["rank1"], r["queries"], r["skipped"]) == (1.0, 1.0, 4, 0)
    # the same features under another camera are the only correct match: identities shuffled, no query finds it first
    r = evaluate_ranking(distance_matrix(feats, feats, "euclidean").numpy(), ids, cams, [2, 3, 4, 1], [2, 2, 2, 2])
    assert r["rank1"] == 0.0 and r["mAP"] < 1


def test_evaluate_ranking_rejects_mismatched_shapes_and_no_valid_query():
    with pytest.raises(ValueError, match="does not match"):
        evaluate_ranking(DIST[:, :5], Q_IDS, Q_CAMS, G_IDS, G_CAMS)
    with pytest.raises(ValueError, match="no query"):
        evaluate_ranking(DIST[2:4], Q_IDS[2:4], Q_CAMS[2:4], G_IDS, G_CAMS)


def test_distance_matrix_cosine_and_euclidean():
    q = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(distance_matrix(q, g, "cosine"), torch.tensor([[0.0, 1.0], [0.4, 0.2]]))
    assert torch.allclose(distance_matrix(q, g, "euclidean"), torch.tensor([[1.0, 2 ** 0.5], [17 ** 0.5, 18 ** 0.5]]))


# --- augmentation end to end -----------------------------------------------------------------------

class RecordingGenerator(torch.nn.Module):
    """A generator that remembers its inputs, to check what augment feeds it."""

    def __init__(self, generator):
        super().__init__()
        self.generator, self.config, self.calls = generator, generator.config, []

    def forward(self, image, src_maps, dst_maps):
        self.calls.append((image.clone(), src_maps.clone(), dst_maps.clone()))
        return self.generator(image, src_maps, dst_maps)


def test_augment_writes_reduced_and_augmented_sets_with_dropped_poses(tmp_path, monkeypatch):
    poses = make_market_patn(tmp_path / "market")
    ckpt = tiny_generator(tmp_path / "g.safetensors")
    recorder = RecordingGenerator(load_generator(ckpt))
    monkeypatch.setattr(augment_module.PoNA, "from_checkpoint", classmethod(lambda cls, path, device: cls(recorder, device)))
    out = tmp_path / "out"
    r = augment_market(tmp_path / "market", 0.4, ckpt, out, seed=1, batch_size=2)
    # 2: 5 images -> keep 2; 3: 3 -> 1; 7: 1 -> 1
    assert (r.identities, r.original, r.kept, r.generated) == (3, 9, 4, 5)
    reduced = sorted(p.name for p in (out / "reduced/bounding_box_train").iterdir())
    augmented = sorted(p.name for p in (out / "augmented/bounding_box_train").iterdir())
    assert len(reduced) == 4 and augmented == sorted(poses)
    assert {parse_market_name(n).identity for n in reduced} == {2, 3, 7}
    for n in reduced:  # real images are copied byte for byte
        assert (out / "reduced/bounding_box_train" / n).read_bytes() == (tmp_path / "market/train" / n).read_bytes()
    for variant in ("reduced", "augmented"):
        assert (out / variant / "query" / "0020_c1s1_000000_01.jpg").is_file()
        assert len(list((out / variant / "bounding_box_test").iterdir())) == 2

    manifest = read_manifest(out)
    assert manifest["portion"] == 0.4 and manifest["seed"] == 1 and manifest["counts"]["generated"] == 5
    rows = {row["name"]: row for row in manifest["images"]}
    assert set(rows) == set(poses)
    assert all(rows[n]["kind"] == "kept" and rows[n]["source"] == "" for n in reduced)
    generated = [row for row in manifest["images"] if row["kind"] == "generated"]
    assert [len(c[0]) for c in recorder.calls] == [2, 2, 1]  # batched
    inputs = [tuple(t[i] for t in call) for call in recorder.calls for i in range(len(call[0]))]
    for row, (image, src_maps, dst_maps) in zip(generated, inputs, strict=True):
        name, source = row["name"], row["source"]
        assert source in reduced and rows[source]["identity"] == row["identity"] == parse_market_name(name).identity
        assert np.array_equal(row["keypoints"], poses[name])  # the dropped image's pose ...
        assert torch.equal(dst_maps, heatmaps(torch.tensor(poses[name]), *SIZE))  # ... is the generator's target
        assert torch.equal(src_maps, heatmaps(torch.tensor(poses[source]), *SIZE))
        assert torch.equal(image, to_tensor(np.array(Image.open(tmp_path / "market/train" / source))))
        written = np.asarray(Image.open(out / "augmented/bounding_box_train" / name), dtype=np.int64)
        expected = to_uint8(recorder.generator(image[None], src_maps[None], dst_maps[None])[0]).astype(np.int64)
        assert np.abs(written - expected).mean() < 6  # the same up to JPEG (of a noisy random generator)
    with open(out / "manifest.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["name", "identity", "camera", "kind", "source"] and len(table) == 9
    assert sum(row["kind"] == "generated" for row in table) == 5


def test_augment_at_portion_one_generates_nothing_and_refuses_a_used_output(tmp_path):
    make_market_patn(tmp_path / "market", counts={2: 2, 5: 3})
    write_folder(tmp_path / "original/query", [(30, 1, 0)])  # query/ and gallery from another root
    ckpt = tiny_generator(tmp_path / "g.safetensors")
    r = augment_market(tmp_path / "market", 1.0, ckpt, tmp_path / "out", test_from=tmp_path / "original")
    assert (r.kept, r.generated) == (5, 0)
    assert [p.name for p in (tmp_path / "out/augmented/query").iterdir()] == ["0030_c1s1_000000_01.jpg"]
    assert not (tmp_path / "out/augmented/bounding_box_test").exists()
    with pytest.raises(PonaError, match="not empty"):
        augment_market(tmp_path / "market", 1.0, ckpt, tmp_path / "out")


def test_augment_rejects_images_of_another_size_and_non_market_names(tmp_path):
    make_market_patn(tmp_path / "market", counts={2: 3})
    g = Generator(dataclasses.replace(TINY_CONFIG, norm="batch", image_size=(64, 32)))  # trained at another size
    save_generator(g, tmp_path / "g.safetensors")
    with pytest.raises(DataError, match="trained at 32x64"):
        augment_market(tmp_path / "market", 0.3, tmp_path / "g.safetensors", tmp_path / "out")
    poses = read_annotations(tmp_path / "market/market-annotation-train.csv")
    write_annotations(tmp_path / "market/market-annotation-train.csv", {"img.jpg": next(iter(poses.values()))})
    with pytest.raises(DataError, match="market-annotation-train.csv: row img.jpg"):
        augment_market(tmp_path / "market", 0.3, tmp_path / "g.safetensors", tmp_path / "out2")


def test_augment_cli(tmp_path, capsys):
    make_market_patn(tmp_path / "market")
    ckpt = tiny_generator(tmp_path / "g.safetensors")
    code, out, err = run_cli(capsys, "reid", "augment", "--data", str(tmp_path / "market"), "--portion", "0.2",
                         "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "3 identities, 9 training images: kept 3" in out and "generated 6" in out


# --- networks ------------------------------------------------------------------------------------

def test_resnet18_has_torchvision_names_and_shapes():
    m = ResNet(18)
    sd = m.state_dict()
    assert len(sd) == 122 and sum(p.numel() for p in m.parameters()) == 11_689_512
    shapes = {"conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3),
              "layer2.0.downsample.0.weight": (128, 64, 1, 1), "layer2.0.downsample.1.weight": (128,),
              "layer4.1.bn2.running_var": (512,), "fc.weight": (1000, 512), "fc.bias": (1000,)}
    assert {k: tuple(sd[k].shape) for k in shapes} == shapes
    assert "layer1.0.downsample.0.weight" not in sd and "layer1.0.bn1.num_batches_tracked" in sd


def test_resnet50_has_torchvision_names_shapes_and_v1_5_strides():
    m = ResNet(50)
    sd = m.state_dict()
    assert len(sd) == 320 and sum(p.numel() for p in m.parameters()) == 25_557_032
    shapes = {"layer1.0.conv1.weight": (64, 64, 1, 1), "layer1.0.conv3.weight": (256, 64, 1, 1),
              "layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer2.0.conv2.weight": (128, 128, 3, 3),
              "layer3.5.bn3.weight": (1024,), "layer4.2.conv3.weight": (2048, 512, 1, 1), "fc.weight": (1000, 2048)}
    assert {k: tuple(sd[k].shape) for k in shapes} == shapes
    assert m.layer2[0].conv1.stride == (1, 1) and m.layer2[0].conv2.stride == (2, 2)
    assert ResNet(50, num_classes=0, last_stride=1).forward_features(torch.zeros(1, 3, 64, 32)).shape == (1, 2048, 4, 2)


def test_imagenet_weights_load_from_a_path_without_fc(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    torch.manual_seed(5)
    reference = ResNet(18)
    torch.save(reference.state_dict(), tmp_path / "resnet18-f37072fd.pth")
    model, init = build_reid_model(ReIDConfig("resnet18", 4), weights=tmp_path / "resnet18-f37072fd.pth")
    assert init == f"ImageNet weights from {tmp_path / 'resnet18-f37072fd.pth'}"
    assert torch.equal(model.backbone.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    assert torch.equal(model.backbone.bn1.running_var, reference.bn1.running_var)
    # found by name in a weights directory; absent and offline: random init, saying why
    _, init = build_reid_model(ReIDConfig("resnet18", 4), weights_dir=tmp_path, download=False)
    assert init.startswith("ImageNet weights from")
    _, init = build_reid_model(ReIDConfig("resnet50", 4), weights_dir=tmp_path, download=False)
    assert init.startswith("random init") and "resnet50-0676ba61.pth" in init
    _, init = build_reid_model(ReIDConfig("small", 4))
    assert init.startswith("random init")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="missing key"):
        build_reid_model(ReIDConfig("resnet18", 4), weights=tmp_path / "bad.pth")


# --- training and evaluation -----------------------------------------------------------------------

def make_market_root(root, n_ids=4, per_id=4):
    """Market-1501 layout: train identities 1..n, test identities 50.., two cameras each."""
    write_folder(root / "bounding_box_train", [(pid, 1 + f % 2, f) for pid in range(1, n_ids + 1) for f in range(per_id)])
    write_folder(root / "query", [(pid, 1, 100) for pid in range(50, 53)])
    write_folder(root / "bounding_box_test", [(pid, 2, 101 + f) for pid in range(50, 53) for f in range(2)] + [(0, 1, 1)])


def test_reid_training_reduces_the_loss_and_saves_a_loadable_model(tmp_path):
    make_market_root(tmp_path / "m")
    config = ReIDTrainConfig(backbone="small", epochs=5, batch_size=8, lr=0.01, image_size=SIZE, crop_pad=2)
    r = train_reid(tmp_path / "m", tmp_path / "run", config)
    losses = [h["loss"] for h in r["history"]]
    assert len(losses) == 5 and losses[-1] < 0.5 * losses[0]
    model = load_reid(tmp_path / "run")
    assert model.config.num_classes == 4 and model.config.image_size == SIZE
    options = json.loads((tmp_path / "run/options.json").read_text())
    assert options["identities"] == [1, 2, 3, 4] and options["init"].startswith("random init")
    assert len((tmp_path / "run/log.jsonl").read_text().splitlines()) == 5


def test_reid_train_and_evaluate_cli(tmp_path, capsys):
    make_market_root(tmp_path / "m")
    code, out, err = run_cli(capsys, "reid", "train", "--data", str(tmp_path / "m"), "--out", str(tmp_path / "run"),
                         "--backbone", "small", "--epochs", "2", "--batch-size", "8", "--size", "32x16")
    assert code == 0, err
    assert "random init" in out and "reid.safetensors" in out
    code, out, err = run_cli(capsys, "reid", "evaluate", "--checkpoint", str(tmp_path / "run"), "--data", str(tmp_path / "m"))
    assert code == 0, err
    assert out.startswith("mAP ") and "3 queries, 0 skipped, 7 gallery images, cosine distance" in out
    text = out
    code, out, _ = run_cli(capsys, "reid", "evaluate", "--checkpoint", str(tmp_path / "run"), "--data", str(tmp_path / "m"),
                       "--json")
    r = json.loads(out)
    # the table is the JSON in percent
    assert text.startswith(f"mAP {100 * r['mAP']:.2f}  rank-1 {100 * r['rank1']:.2f}  rank-5 {100 * r['rank5']:.2f}  "
                           f"rank-10 {100 * r['rank10']:.2f}  ")
    # the numbers are the model's: features of the query and gallery files, ranked by evaluate_ranking
    from pona.reid import extract_features, read_market_folder
    model = load_reid(tmp_path / "run")
    (q_names, q_ids, q_cams), (g_names, g_ids, g_cams) = (read_market_folder(tmp_path / "m" / d) for d in ("query", "bounding_box_test"))
    qf = extract_features(model, [tmp_path / "m/query" / n for n in q_names])
    gf = extract_features(model, [tmp_path / "m/bounding_box_test" / n for n in g_names])
    expected = evaluate_ranking(distance_matrix(qf, gf).numpy(), q_ids, q_cams, g_ids, g_cams)
    assert r["mAP"] == pytest.approx(expected["mAP"]) and r["rank1"] == pytest.approx(expected["rank1"])
    assert (r["queries"], r["skipped"], r["gallery"], r["distance"]) == (3, 0, 7, "cosine")
    code, _, err = run_cli(capsys, "reid", "evaluate", "--checkpoint", str(tmp_path / "run/options.json"), "--data", str(tmp_path / "m"))
    assert code == 2 and err.startswith("error: ") and "not a safetensors file" in err


def test_reid_evaluate_cli_on_gallery_copies_of_the_queries_prints_100(tmp_path, capsys):
    """Each query's only correct match is a pixel copy of it under another camera: whatever the
    weights, its distance is 0 and it ranks first, so mAP and rank-1 are 100 (the CLI prints percent).
    With the copies' identities rotated, no query finds its match first: rank-1 0."""
    from pona.reid import ReIDNet, save_reid

    save_reid(ReIDNet(ReIDConfig("small", 4, image_size=SIZE)).eval(), tmp_path / "reid.safetensors")
    queries = [(pid, 1, 100) for pid in range(50, 54)]
    copies = [(pid, 2, 100) for pid in range(50, 54)]  # same identity and frame: the same pixels
    others = [(pid, 3, 7) for pid in range(60, 63)] + [(0, 4, 3)]  # other people and a distractor
    for root in ("same", "rotated"):
        write_folder(tmp_path / root / "query", queries)
        write_folder(tmp_path / root / "bounding_box_test", copies + others)
    rotated = tmp_path / "rotated" / "bounding_box_test"  # rename copy of 50 -> 51, 51 -> 52, ... (cameras kept)
    for pid in range(50, 54):
        (rotated / format_market_name(pid, 2, 1, 100, 1)).rename(rotated / f"tmp{pid}.jpg")
    for pid in range(50, 54):
        (rotated / f"tmp{pid}.jpg").rename(rotated / format_market_name(50 + (pid - 49) % 4, 2, 1, 100, 1))
    for flip in ((), ("--no-flip",)):
        code, out, err = run_cli(capsys, "reid", "evaluate", "--checkpoint", str(tmp_path / "reid.safetensors"),
                                 "--data", str(tmp_path / "same"), "--distance", "euclidean", *flip)
        assert code == 0, err
        assert out.startswith("mAP 100.00  rank-1 100.00  rank-5 100.00  rank-10 100.00  (4 queries, 0 skipped, 8 gallery images")
    code, out, err = run_cli(capsys, "reid", "evaluate", "--checkpoint", str(tmp_path / "reid.safetensors"),
                             "--data", str(tmp_path / "rotated"), "--distance", "euclidean", "--json")
    r = json.loads(out)
    assert r["rank1"] == 0.0 and r["mAP"] < 1 and (r["queries"], r["gallery"]) == (4, 8)
