"""Evaluators: strict loading of the official T2M layout (spec §5.2 table), the official feeding rule checked
against a hand-written forward pass, and the vimo contrastive evaluator (training, freezing, checksums)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vimo.errors import FormatVersionError, InputFormatError
from vimo.models.checkpoints import CheckpointError
from vimo.models.evaluator import (
    EvaluatorConfig, EvaluatorTraining, VimoEvaluator, load_evaluator, load_t2m_evaluator, load_vimo_evaluator,
    save_vimo_evaluator, tiny_evaluator_config, train_vimo_evaluator,
)
from vimo.models.metrics import r_precision

# shapes of finest.tar as listed in hero_model.md §5.2 (written out here, not taken from the module)
MOVEMENT = {"main.0.weight": (512, 259, 4), "main.0.bias": (512,), "main.3.weight": (512, 512, 4),
            "main.3.bias": (512,), "out_net.weight": (512, 512), "out_net.bias": (512,)}
MOTION = {"hidden": (2, 1, 1024), "input_emb.weight": (1024, 512), "input_emb.bias": (1024,),
          **{f"gru.{k}{s}": shape for s in ("", "_reverse") for k, shape in
             (("weight_ih_l0", (3072, 1024)), ("weight_hh_l0", (3072, 1024)), ("bias_ih_l0", (3072,)),
              ("bias_hh_l0", (3072,)))},
          "output_net.0.weight": (1024, 2048), "output_net.0.bias": (1024,), "output_net.1.weight": (1024,),
          "output_net.1.bias": (1024,), "output_net.3.weight": (512, 1024), "output_net.3.bias": (512,)}
OPT_TXT = """------------ Options -------------
batch_size: 32
dataset_name: t2m
dim_movement_enc_hidden: 512
dim_movement_latent: 512
dim_text_hidden: 512
feat_bias: 5
max_text_len: 20
unit_length: 4
-------------- End ----------------
"""


def _official_folder(root, *, movement=MOVEMENT, motion=MOTION, opt=OPT_TXT):
    g = torch.Generator().manual_seed(0)
    state = {"movement_encoder": {k: torch.randn(s, generator=g) * 0.02 for k, s in movement.items()},
             "motion_encoder": {k: torch.randn(s, generator=g) * 0.02 for k, s in motion.items()},
             "text_encoder": {"hidden": torch.zeros(2, 1, 512), "pos_emb.weight": torch.zeros(300, 15)},
             "opt_motion_encoder": {}, "opt_text_encoder": {}, "epoch": 3, "iter": 100}
    (root / "text_mot_match/model").mkdir(parents=True)
    (root / "Comp_v6_KLD005/meta").mkdir(parents=True)
    torch.save(state, root / "text_mot_match/model/finest.tar")
    (root / "Comp_v6_KLD005/opt.txt").write_text(opt)
    np.save(root / "Comp_v6_KLD005/meta/mean.npy", np.zeros(263, np.float32))
    np.save(root / "Comp_v6_KLD005/meta/std.npy", np.ones(263, np.float32))
    return root, state


def test_official_layout_loads_strictly(tmp_path):
    root, state = _official_folder(tmp_path / "t2m")
    ev = load_t2m_evaluator(root)
    assert sum(p.numel() for p in ev.movement_encoder.parameters()) == pytest.approx(1.84e6, rel=0.01)
    assert sum(p.numel() for p in ev.motion_encoder.parameters()) == pytest.approx(15.75e6, rel=0.01)
    for key in ("movement_encoder", "motion_encoder"):
        for k, v in getattr(ev, key).state_dict().items():
            assert torch.equal(v, state[key][k]), k
    assert ev.cfg.unit_length == 4 and ev.evaluator_id.startswith("t2m-") and not ev.training
    assert all(not p.requires_grad for p in ev.parameters())
    assert load_evaluator(root).evaluator_id == ev.evaluator_id
    emb = ev.motion_embeddings(np.random.default_rng(0).standard_normal((3, 40, 263)).astype(np.float32), [40, 24, 32])
    assert emb.shape == (3, 512) and np.isfinite(emb).all()


@pytest.mark.parametrize("change, match", [
    (dict(movement={**MOVEMENT, "main.0.weight": (512, 263, 4)}), "shape"),  # contacts not dropped
    (dict(motion={k: v for k, v in MOTION.items() if k != "hidden"}), "lacks key 'hidden'"),
    (dict(movement={**MOVEMENT, "extra.weight": (1,)}), "unexpected key"),
])
def test_official_layout_mismatch_is_refused(tmp_path, change, match):
    root, _ = _official_folder(tmp_path / "t2m", **change)
    with pytest.raises(CheckpointError, match=match):
        load_t2m_evaluator(root)


def test_official_folder_problems(tmp_path):
    root, _ = _official_folder(tmp_path / "t2m")
    np.save(root / "Comp_v6_KLD005/meta/std.npy", np.full(263, np.nan, np.float32))
    with pytest.raises(InputFormatError, match="non-finite"):
        load_t2m_evaluator(root)
    (root / "Comp_v6_KLD005/opt.txt").unlink()
    with pytest.raises(InputFormatError, match="opt.txt"):
        load_t2m_evaluator(root)
    root2, _ = _official_folder(tmp_path / "kit", opt=OPT_TXT.replace("dataset_name: t2m", "dataset_name: kit"))
    with pytest.raises(InputFormatError, match="KIT"):
        load_t2m_evaluator(root2)
    root3, _ = _official_folder(tmp_path / "cut")
    (root3 / "text_mot_match/model/finest.tar").write_bytes(b"trunc")
    with pytest.raises(CheckpointError, match="finest.tar.*truncated"):
        load_t2m_evaluator(root3)
    with pytest.raises(InputFormatError, match="neither"):
        load_evaluator(tmp_path / "nowhere")


def _reference_embedding(sd_move, sd_mot, motion, length, unit=4):
    """Plain-tensor forward of one motion: contacts dropped, two convs, per-step linear, bi-GRU over
    length // unit steps with gate order (r, z, n), final states -> output net."""
    x = motion[None, :, :-4].permute(0, 2, 1)
    x = F.leaky_relu(F.conv1d(x, sd_move["main.0.weight"], sd_move["main.0.bias"], stride=2, padding=1), 0.2)
    x = F.leaky_relu(F.conv1d(x, sd_move["main.3.weight"], sd_move["main.3.bias"], stride=2, padding=1), 0.2)
    x = x[0].T @ sd_move["out_net.weight"].T + sd_move["out_net.bias"]
    x = x @ sd_mot["input_emb.weight"].T + sd_mot["input_emb.bias"]
    steps = length // unit

    def run(seq, h, sfx):
        wi, wh = sd_mot[f"gru.weight_ih_l0{sfx}"], sd_mot[f"gru.weight_hh_l0{sfx}"]
        bi, bh = sd_mot[f"gru.bias_ih_l0{sfx}"], sd_mot[f"gru.bias_hh_l0{sfx}"]
        for xt in seq:
            gi, gh = wi @ xt + bi, wh @ h + bh
            n = h.shape[0]
            r = torch.sigmoid(gi[:n] + gh[:n])
            z = torch.sigmoid(gi[n:2 * n] + gh[n:2 * n])
            c = torch.tanh(gi[2 * n:] + r * gh[2 * n:])
            h = (1 - z) * c + z * h
        return h

    fwd = run(x[:steps], sd_mot["hidden"][0, 0], "")
    bwd = run(x[:steps].flip(0), sd_mot["hidden"][1, 0], "_reverse")
    y = torch.cat([fwd, bwd]) @ sd_mot["output_net.0.weight"].T + sd_mot["output_net.0.bias"]
    y = F.layer_norm(y, y.shape, sd_mot["output_net.1.weight"], sd_mot["output_net.1.bias"])
    y = F.leaky_relu(y, 0.2)
    return y @ sd_mot["output_net.3.weight"].T + sd_mot["output_net.3.bias"]


def test_feeding_rule_matches_a_direct_forward():
    torch.manual_seed(1)
    ev = VimoEvaluator(tiny_evaluator_config(), np.zeros(263), np.ones(263)).eval()
    motions = torch.randn(5, 48, 263)
    lengths = [20, 48, 31, 44, 8]  # unsorted; the wrapper sorts, we get rows back in input order
    emb = ev.motion_embeddings(motions, lengths)
    sd_move, sd_mot = ev.movement_encoder.state_dict(), ev.motion_encoder.state_dict()
    for i, n in enumerate(lengths):
        ref = _reference_embedding(sd_move, sd_mot, motions[i], n)
        assert np.allclose(emb[i], ref.detach().numpy(), atol=1e-5), i
    changed = motions.clone()
    changed[..., -4:] = 7.0  # foot contacts are dropped
    assert np.allclose(ev.motion_embeddings(changed, lengths), emb, atol=1e-6)
    # unit length 4: 44 and 47 frames give the same steps
    assert np.allclose(ev.motion_embeddings(motions[3:4], [47]), emb[3:4], atol=1e-5)
    with pytest.raises(InputFormatError, match="lengths"):
        ev.motion_embeddings(motions[:1], [3])
    with pytest.raises(InputFormatError, match="shape"):
        ev.motion_embeddings(motions[:, :, :259], lengths)


def _clustered_pairs(n_videos=12, per_video=2, seed=0):
    """Each video is a class: its (16, 32) features and its reactions share a class pattern."""
    rng = np.random.default_rng(seed)
    patterns = rng.standard_normal((n_videos, 263)).astype(np.float32)
    motions, videos, ids = [], [], []
    vfeat = rng.standard_normal((n_videos, 16, 32)).astype(np.float32)
    for v in range(n_videos):
        for _ in range(per_video):
            t = int(rng.integers(24, 41))
            motions.append(patterns[v] + 0.3 * rng.standard_normal((t, 263)).astype(np.float32))
            videos.append(vfeat[v])
            ids.append(f"video{v}")
    return motions, videos, ids


def test_vimo_evaluator_learns_frozen_versioned_checksummed(tmp_path):
    motions, videos, ids = _clustered_pairs()
    training = EvaluatorTraining(epochs=25, batch_size=8, lr=2e-3, max_length=40, extra={"release_sha256": "abc"})
    ev = train_vimo_evaluator(motions, videos, ids, np.zeros(263), np.ones(263), tiny_evaluator_config(), training,
                              video_encoder_id="pixel-test")
    history = ev.metadata["loss_history"]
    assert history[-1] < 0.6 * history[0]
    assert not ev.training and all(not p.requires_grad for p in ev.parameters())
    lens = [min(m.shape[0], 40) // 4 * 4 for m in motions]
    padded = np.zeros((len(motions), 40, 263), np.float32)
    for i, m in enumerate(motions):
        padded[i, :lens[i]] = m[:lens[i]]
    top, _ = r_precision(ev.video_embeddings(np.stack(videos)), ev.motion_embeddings(padded, lens), batch_size=24)
    assert top[2] > 0.5  # chance for top-3 among 24 with 2 positives per video is ~0.25

    eid = save_vimo_evaluator(ev, tmp_path / "ev/evaluator.tar")
    assert eid.startswith("vimo-") and (tmp_path / "ev/evaluator.tar.sha256").read_text().split()[0][:16] == eid[5:]
    again = load_evaluator(tmp_path / "ev")
    assert again.evaluator_id == eid and again.video_encoder_id == "pixel-test"
    assert again.describe()["trained_on"] == "abc"
    assert np.allclose(again.motion_embeddings(padded, lens), ev.motion_embeddings(padded, lens), atol=1e-6)
    # a second training run with another seed is another evaluator
    other = train_vimo_evaluator(motions, videos, ids, np.zeros(263), np.ones(263), tiny_evaluator_config(),
                                 EvaluatorTraining(epochs=1, batch_size=8, seed=5, max_length=40), "pixel-test")
    assert save_vimo_evaluator(other, tmp_path / "other/evaluator.tar") != eid

    (tmp_path / "ev/evaluator.tar.sha256").write_text("0" * 64 + "  evaluator.tar\n")
    with pytest.raises(CheckpointError, match="does not match"):
        load_vimo_evaluator(tmp_path / "ev/evaluator.tar")
    obj = torch.load(tmp_path / "other/evaluator.tar", weights_only=False)
    obj["vimo"]["format"] = "vimo-evaluator/0"
    torch.save(obj, tmp_path / "old.tar")
    with pytest.raises(FormatVersionError, match="version 0 is older.*retrain-evaluator"):
        load_vimo_evaluator(tmp_path / "old.tar")
    obj["vimo"]["format"] = "vimo-evaluator/2"
    torch.save(obj, tmp_path / "new.tar")
    with pytest.raises(FormatVersionError, match="newer.*upgrade vimo"):
        load_vimo_evaluator(tmp_path / "new.tar")


def test_video_feature_width_is_checked():
    ev = VimoEvaluator(EvaluatorConfig(dim_movement_enc_hidden=8, dim_movement_latent=8, dim_motion_hidden=8,
                                       dim_coemb_hidden=8, video_dim=16), np.zeros(263), np.ones(263))
    with pytest.raises(InputFormatError, match="video features"):
        ev.video_embeddings(np.zeros((2, 16, 32), np.float32))


def test_video_segments_keep_the_order_of_events_and_older_files_load_with_one(tmp_path):
    """Two videos with the same frames in opposite order: one mean over all frames cannot tell them apart, two
    segment means can. A file written before `video_segments` existed (no such config key, one-mean layout)
    still loads, as a one-segment evaluator with the same embeddings."""
    cfg = EvaluatorConfig(dim_movement_enc_hidden=8, dim_movement_latent=8, dim_motion_hidden=8, dim_coemb_hidden=8,
                          video_dim=16)
    assert cfg.video_segments == 2  # new evaluators keep the order
    frames = np.random.default_rng(0).standard_normal((1, 16, 16)).astype(np.float32)
    both = np.concatenate([frames, frames[:, ::-1]])
    torch.manual_seed(0)
    two = VimoEvaluator(cfg, np.zeros(263), np.ones(263))
    e2 = two.video_embeddings(both)
    assert np.abs(e2[0] - e2[1]).max() > 1e-3
    torch.manual_seed(0)
    one = VimoEvaluator(EvaluatorConfig(**{**cfg.__dict__, "video_segments": 1}), np.zeros(263), np.ones(263))
    e1 = one.video_embeddings(both)
    assert np.allclose(e1[0], e1[1], atol=1e-6)
    with pytest.raises(InputFormatError, match="2 segments"):
        two.video_embeddings(frames[:, :1])

    save_vimo_evaluator(one, tmp_path / "old/evaluator.tar")
    obj = torch.load(tmp_path / "old/evaluator.tar", weights_only=False)
    del obj["vimo"]["config"]["video_segments"]
    torch.save(obj, tmp_path / "old/evaluator.tar")
    (tmp_path / "old/evaluator.tar.sha256").unlink()
    old = load_vimo_evaluator(tmp_path / "old/evaluator.tar")
    assert old.cfg.video_segments == 1
    assert np.allclose(old.video_embeddings(both), e1, atol=1e-6)
