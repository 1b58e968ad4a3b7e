"""The ablations and baselines as named variants of the reference model: their architectures, a few CPU
training steps of each with save / strict load, and a benchmark over several variants in the seed's table form."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vimo.errors import InputFormatError
from vimo.models.bench import Bench, BenchConfig, run_bench
from vimo.models.checkpoints import CheckpointError
from vimo.models.configs import VARIANTS, preset, variant_preset
from vimo.models.transformers import MaskTransformer, ResidualTransformer, causal_attention_mask
from vimo.models.variants import VariantRuns, checkpoint_files, load_variant, variant_runs

from .conftest import write_tiny_release
from .official_keys import mask_transformer_keys as mask_keys

ALL = ["hero", "vqvae", "no-iie", "no-die", "momask-video", "bamm-video", "layers-4", "layers-5", "layers-6",
       "layers-7", "layers-8"]


def _keys(model: torch.nn.Module) -> set[str]:
    return set(model.state_dict())


def test_variant_names_and_configs():
    assert sorted(VARIANTS) == sorted(ALL)
    hero = preset("hero")
    assert variant_preset(hero, "hero") == hero  # the default changes nothing
    assert variant_preset("hero", "vqvae").rvq.num_quantizers == 1
    assert variant_preset("hero", "vqvae").transformer.num_quantizers == 1
    assert variant_preset("hero", "momask-video").transformer.num_layers == 8  # MoMask's encoder depth
    assert variant_preset("tiny", "momask-video").transformer.num_layers == 2  # tiny keeps its sizes
    assert [variant_preset("tiny", f"layers-{n}").transformer.num_layers for n in range(4, 9)] == [4, 5, 6, 7, 8]
    for bad in ("layers-9", "layers-3", "momask"):
        with pytest.raises(InputFormatError, match="unknown model variant"):
            variant_preset("tiny", bad)
    with pytest.raises(InputFormatError, match="no residual transformer"):
        ResidualTransformer(variant_preset("tiny", "vqvae").transformer)


def test_variant_architectures_at_full_size():
    hero = MaskTransformer(preset("hero").transformer)
    assert {k: tuple(v.shape) for k, v in hero.state_dict().items()} == mask_keys()  # official layout unchanged
    no_iie = _keys(MaskTransformer(variant_preset("hero", "no-iie").transformer))
    assert no_iie == {k for k in _keys(hero) if not k.startswith("global_local_crossatt_block.")}
    no_die = _keys(MaskTransformer(variant_preset("hero", "no-die").transformer))
    assert not any("multihead_attn" in k or "norm3" in k or k.startswith("seqTransDecoder") for k in no_die)
    assert "global_local_crossatt_block.attn.query.weight" in no_die and "seqTransEncoder.layers.5.linear1.weight" in no_die
    momask = _keys(MaskTransformer(variant_preset("hero", "momask-video").transformer))
    # MoMask's text model layout (spec §5): seqTransEncoder.layers.0..7, no multihead_attn / norm3, no IIE
    assert {k.split(".")[2] for k in momask if k.startswith("seqTransEncoder.layers.")} == {str(i) for i in range(8)}
    assert not any("multihead_attn" in k or "norm3" in k or "crossatt" in k for k in momask)
    assert momask == _keys(MaskTransformer(variant_preset("hero", "bamm-video").transformer))


def test_pooled_condition_and_hybrid_attention():
    torch.manual_seed(0)
    p = variant_preset("tiny", "bamm-video")
    model = MaskTransformer(p.transformer).eval()
    video = torch.randn(2, 16, 32)
    assert torch.equal(model.intention(video), video.mean(1))  # w/o IIE: the prefix is v_g itself
    ids = torch.randint(0, 32, (2, 10))
    later = ids.clone()
    later[:, 6:] = (later[:, 6:] + 1) % 32
    pad = torch.zeros(2, 10, dtype=torch.bool)
    causal = torch.tensor([True, False])
    a = model.trans_forward(ids, video, pad, causal=causal)
    b = model.trans_forward(later, video, pad, causal=causal)
    # the causal sample's first 6 positions do not see the changed later tokens; the bidirectional one does
    assert torch.allclose(a[0, :, :6], b[0, :, :6], atol=1e-5)
    assert not torch.allclose(a[1, :, :6], b[1, :, :6], atol=1e-5)
    mask = causal_attention_mask(causal, 4, heads=2)
    upper = torch.ones(4, 4, dtype=torch.bool).triu(1)
    assert mask.shape == (4, 4, 4) and torch.equal(mask[0], upper) and torch.equal(mask[1], upper)
    assert not mask[2:].any()  # sample 1 (bidirectional), both heads


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every variant trained 2 steps per stage (shared HERO RVQ, own VQ-VAE) into one checkpoints folder."""
    tmp = tmp_path_factory.mktemp("variants")
    release = write_tiny_release(tmp / "release", n_train=6, n_test=6)
    cfg = BenchConfig(release=release, out=tmp / "bench", preset="tiny", select_by_fid=False, progress=False,
                      replications=2, batch_size=8, mm_batches=1, mm_repeats=3, mm_times=2, evaluator_epochs=2,
                      subsets=False)
    bench = Bench(cfg)
    root = tmp / "bench" / "checkpoints"
    for name in ALL:
        vp = variant_preset(bench.p, name)
        bench.train_variant(None, variant_runs(root, vp, bench.p), vp, max_steps=2)
    return tmp, cfg, bench, root


def test_every_variant_trains_saves_and_loads_strictly(trained):
    tmp, cfg, bench, root = trained
    base = bench.p
    assert sorted(p.name for p in root.iterdir()) == sorted(["rvq", "mask", "res"] + [n for n in ALL if n != "hero"])
    video = torch.from_numpy(np.stack([bench.features[v] for v, _ in bench.test_pairs[:2]]))
    for name in ALL:
        vp = variant_preset(base, name)
        runs = variant_runs(root, vp, base)
        files = checkpoint_files(runs)
        if name == "vqvae":
            assert runs.rvq == root / "vqvae" / "rvq" and "res" not in files
        else:
            assert files["rvq"] == root / "rvq" / "model" / "latest.tar"  # HERO's RVQ is shared
        for stage, path in files.items():
            ckpt = torch.load(path, weights_only=False)
            assert ckpt["vimo"]["stage"] == stage and ckpt["total_it"] == 2, (name, stage)
        hero = load_variant(runs, vp)
        assert hero.mask.cfg == vp.transformer and (hero.res is None) == (name == "vqvae")
        torch.manual_seed(0)
        gen = bench.generate(hero, video, np.array([24, 16]))
        assert gen.shape == (2, 24, 263) and np.isfinite(gen).all(), name
    # strict loading: a variant's checkpoint does not load as another architecture
    with pytest.raises(CheckpointError, match="no-iie mask state dict"):
        load_variant(VariantRuns("no-iie", root / "layers-4", root / "rvq", ("mask",)), variant_preset(base, "no-iie"))


def test_bench_over_variants_writes_one_table(trained):
    tmp, cfg, bench, root = trained
    cfg = BenchConfig(**{**cfg.__dict__, "checkpoints": root, "out": tmp / "ablation",
                         "variants": ["hero", "vqvae", "no-die", "layers-8"]})
    res = run_bench(cfg)
    assert list(res["variants"]) == ["hero", "vqvae", "no-die", "layers-8"]
    assert res["protocol"]["variants"] == ["hero", "vqvae", "no-die", "layers-8"]
    assert res["sets"] == res["variants"]["hero"]["sets"]
    v = res["variants"]
    # variants sharing HERO's RVQ share its reconstruction; the VQ-VAE has its own
    assert v["no-die"]["reconstruction"] == v["hero"]["reconstruction"]
    assert v["vqvae"]["checkpoints"]["rvq"]["sha256"] != v["hero"]["checkpoints"]["rvq"]["sha256"]
    assert v["vqvae"]["reconstruction"]["fid"] != v["hero"]["reconstruction"]["fid"]
    real = {n: v[n]["sets"]["test"]["metrics"]["diversity_real"]["values"] for n in v}
    assert all(vals == real["hero"] for vals in real.values())  # one real row for all variants
    fids = {n: v[n]["sets"]["test"]["metrics"]["fid"]["mean"] for n in v}
    assert len(set(fids.values())) == 4
    report = (tmp / "ablation" / "report.md").read_text()
    table = report[report.index("### Generation on `test`"):].splitlines()
    assert table[2] == "| Variant | FID↓ | Diversity→ | MModality↑ |"
    assert table[4].startswith("| Real | - | ") and table[4].endswith(" | - |")
    rows = [ln.split(" | ")[0][2:] for ln in table[5:9]]
    assert rows == ["hero", "vqvae", "no-die", "layers-8"]
    assert all(ln.count("±") == 3 for ln in table[5:9])
    assert "| vqvae | " in report[report.index("seed Tab. 3"):]
    saved = json.loads((tmp / "ablation" / "results.json").read_text())
    assert saved["variants"]["layers-8"]["layers"] == 8 and saved["variants"]["vqvae"]["quantizers"] == 1
