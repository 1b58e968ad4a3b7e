"""`vimo bench`: train (or load) HERO on a release and evaluate it with the official protocol.

Protocol (docs/benchmark.md §2): the test loader is materialised once (batch 32, shuffled by the eval seed 10107,
crops to multiples of 4), so every replication reuses identical ground-truth crops and batch order; per
replication the reactions are generated again, and FID, Diversity (real and generated), MultiModality (the
first 3 batches, 30 generations per video, batched, 10 pairs; their FID/Diversity rows come from the 30th
generation) and, with a vimo evaluator, video->reaction R-precision and matching score are computed; 20
replications give mean ± 1.96·std/√20. The same runs on every subset list in the release's `splits/` folder
that holds test pairs.

Motions longer than the preset's `max_motion_length` M (vimo releases hold clips of up to 200 frames; the
`tiny` preset has M = 40) follow the rule of `vimo.models.data`: every evaluated set (and MultiModality, the
in-training FID, reconstruction and human-eval samples) uses their first M frames, fixed across replications
and variants; training (HERO's transformers and the vimo evaluator) uses a seeded random window of M frames,
new every epoch. results.json and report.md say how many motions were cut (notes of each set and of the
reconstruction; `provenance.longer_than_max_motion_length`; `protocol.longer_motions` names the rule). The RVQ-VAE is evaluated for reconstruction (FID, MPJPE). Results carry the evaluator
id; numbers of different evaluators are never compared (see `vimo.models.report`).

Checkpoint selection (`select_on`): HERO keeps every stage's `net_best_fid.tar` by the FID on the TEST split
(docs/benchmark.md §3; no val split). vimo selects on the release's validation split (`val.txt`; the in-training
FID of every stage on the val pairs) by default; `test` is the official behaviour, labelled as such;
`none` keeps the last epoch. results.json records it (`protocol.select_on`); the leaderboard never ranks results
of different selection sets together. Each trained stage folder records its selection set (`selection.json`),
and given checkpoints are checked against it.

Validity: every benchmark carries a sanity ladder per variant and evaluated set (real vs real halves,
RVQ reconstruction, the generation, decoded random / constant codes), collapse figures (distinct generated
base-token sequences, Diversity ratio) and, with a vimo evaluator, a binomial test of the real pairs' top-1
R-precision against chance; `results["valid"]` / `results["invalid_reasons"]` apply the rules of
`vimo.models.report` (VALIDITY_RULES) and `vimo leaderboard` refuses invalid results.

Training splits (`split`): `t2` / `t3` train every stage on `splits/t2/train.txt` (each training video with its
2 / 3 best reactions, with that list's own Mean/Std) and test on the base test list; `seen_unseen` trains on
`splits/seen_unseen/train.txt` and tests on `splits/seen_unseen/test.txt` (the Unseen set). A split benchmark
needs the evaluator of the base benchmark (`evaluator=`), so that `vimo leaderboard` can rank base and split
results in one table; results.json records the split.

Example:
    from vimo.models.bench import BenchConfig, run_bench, train_base_evaluator
    base = run_bench(BenchConfig(release="vimo-1.0", out="bench/vimo-1.0", preset="tiny"))
    run_bench(BenchConfig(release="vimo-1.0", out="bench/vimo-1.0-t2", preset="tiny", split="t2",
                          evaluator="bench/vimo-1.0/evaluator/evaluator.tar"))
    # or, without the base benchmark: the base evaluator alone (what run_bench would train), then the split
    ev = train_base_evaluator(BenchConfig(release="vimo-1.0", out="bench/vimo-1.0", preset="tiny"))
    run_bench(BenchConfig(release="vimo-1.0", out="bench/t2", preset="tiny", split="t2", evaluator=ev, epochs=1,
                          replications=2))
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vimo.atomic import sha256_file, write_json, write_text
from vimo.errors import InputFormatError
from vimo.models import metrics as M
from vimo.models.configs import Preset, VARIANTS, preset, variant_preset
from vimo.models.data import (
    LONGER_HEAD, LONGER_RULES, LONGER_WINDOW, Crop, ReactionPlan, ReleaseFolder, padded_motion, rvq_normalisation,
)
from vimo.models.evaluator import (
    EvaluatorConfig, EvaluatorTraining, MotionEvaluator, VimoEvaluator, load_evaluator, save_vimo_evaluator,
    tiny_evaluator_config, train_vimo_evaluator,
)
from vimo.models.variants import VariantRuns, checkpoint_files, load_variant, variant_runs
from vimo.models.report import (
    RESULTS_FORMAT, VALIDITY_RULES, hardware, plot_results, release_checksum, render_report,
    validity_reasons,
)
from vimo.motion import recover_from_ric

EVAL_SEED = 10107
#: optimiser steps of a tiny-preset vimo evaluator at least (its epochs are raised to reach them): on a release of
#: a few dozen pairs this is where the real pairs' R-precision is clearly above chance without memorising them
TINY_EVALUATOR_STEPS = 600
#: protocol entry naming the rule for motions longer than max_motion_length (see vimo.models.data)
LONGER_MOTIONS = f"train: {LONGER_RULES[LONGER_WINDOW]}; eval: {LONGER_RULES[LONGER_HEAD]}"
#: checkpoint selection sets: `val` (vimo default), `test` (official HERO: selects on the test split), `none`
SELECT_ON = ("val", "test", "none")
#: a stage run folder's record of the set its kept checkpoint was selected on
SELECTION_FILE = "selection.json"


class ValidationSplitError(InputFormatError):
    """Checkpoint selection on a validation split that the release does not have (or that is empty)."""


@dataclass
class BenchConfig:
    """One benchmark of one release."""

    release: Path
    """HERO-readable release root"""
    out: Path
    """benchmark folder (report.md, results.json, plots; trained checkpoints and evaluator when not given)"""
    preset: str = "hero"
    """model sizes and recipes: `hero` (paper) or `tiny` (CPU)"""
    evaluator: Path | None = None
    """official T2M evaluator folder or a vimo evaluator file; default: train one on the release (reused)"""
    checkpoints: Path | None = None
    """folder with trained rvq/mask/res runs; default: train them into <out>/checkpoints (resumable)"""
    encoder: str = "pixel"
    """video encoder: `pixel`, `tc-clip=PATH` or `openai-clip=PATH`"""
    feature_cache: Path | None = None
    """video-feature cache folder (default <out>/video_features); content-addressed by video checksum and encoder
    id, so benches of one release (base, T2, Seen/Unseen) can share one and decode each video once"""
    replications: int = M.REPLICATIONS
    """replications of the generation metrics (official 20)"""
    batch_size: int = 32
    """evaluation batch size (official 32; R-precision ranks within a batch)"""
    mm_batches: int = 3
    """batches whose videos get MultiModality generations (official 3)"""
    mm_repeats: int = M.MM_REPEATS
    """generations per video for MultiModality (official 30)"""
    mm_times: int = M.MM_TIMES
    """MultiModality pairs (official 10)"""
    diversity_rule: str = "hero"
    """pairs of Diversity: `hero` (300 if N > 300 else 13), `momask` (300/100), `t2m` (300)"""
    seed: int = EVAL_SEED
    """evaluation seed (official 10107)"""
    time_steps: int = 10
    """masked-transformer decoding steps"""
    cond_scale: float = 4.0
    """CFG scale of the masked transformer"""
    res_cond_scale: float = 5.0
    """CFG scale of the residual transformer"""
    evaluator_space: str = "official"
    """`official`: the evaluator gets RVQ-normalised motions (generation) and the RVQ gets evaluator-normalised
    ones (reconstruction), as HERO; `consistent`: each network gets its own normalisation (they agree when
    the evaluator meta equals the RVQ meta, as for a vimo evaluator)"""
    subsets: bool = True
    """also evaluate every splits/*.txt list that holds test pairs"""
    select_on: str = "val"
    """checkpoint selection when training: `val` (the in-training FID of every stage on val.txt; keeps
    net_best_fid.tar), `test` (official HERO: the same on the test split, labelled in results), `none` (last
    epoch); with given checkpoints: the set they were selected on (checked against their selection.json)"""
    min_val_pairs: int = 20
    """select_on `val` needs at least this many usable val pairs: an FID on fewer ranks checkpoints by noise
    (a 9-pair val set kept a half-trained RVQ), so below it every stage keeps its last epoch (select_on `none`,
    noted in results)"""
    select_by_fid: bool = True
    """False: no selection (the same as select_on `none`; kept for older callers)"""
    epochs: int | None = None
    """override every stage's epochs (training)"""
    evaluator_epochs: int | None = None
    """override the vimo evaluator's training epochs"""
    max_generation_batch: int = 1024
    """most samples generated in one forward (MultiModality batches are split into chunks of this)"""
    device: str = "cpu"
    """torch device"""
    progress: bool = True
    """progress bars while training"""
    split: str | None = None
    """training split: None / `base` (train.txt, test.txt) or a `splits/<name>/` folder of the release (`t2`,
    `t3`: its train list, base test list; `seen_unseen`: its train and test lists); needs `evaluator`"""
    variants: list[str] = field(default_factory=lambda: ["hero"])
    """model variants to train/load and evaluate (`hero`, `vqvae`, `layers-N`, `no-iie`, `no-die`, `momask-video`,
    `bamm-video`; see `vimo.models.configs.VARIANTS`); the first one fills the top-level results"""


@dataclass
class EvalSet:
    """Test pairs of one evaluated set with their fixed batches (the materialised loader)."""

    name: str
    pairs: list[tuple[str, str]]
    batches: list[list[Crop]]
    notes: list[str] = field(default_factory=list)


def read_subset_lists(release: ReleaseFolder, test_pairs: list[tuple[str, str]]
                      ) -> tuple[dict[str, list[int]], list[str]]:
    """`splits/<name>.txt` -> indices of the test pairs it lists (lines: "<video> <motion>" or "<motion>");
    lists without test pairs (training lists such as T2/T3 or Seen) are skipped with a note."""
    folder = release.root / "splits"
    subsets, notes = {}, []
    if not folder.is_dir():
        return subsets, notes
    by_pair = {p: i for i, p in enumerate(test_pairs)}
    by_motion: dict[str, list[int]] = {}
    for i, (_, m) in enumerate(test_pairs):
        by_motion.setdefault(m, []).append(i)
    for path in sorted(folder.glob("*.txt")):
        members: list[int] = []
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and tuple(parts) in by_pair:
                members.append(by_pair[tuple(parts)])
            elif len(parts) == 1:
                members.extend(by_motion.get(parts[0], []))
            elif len(parts) > 2:
                raise InputFormatError(f"line '{line[:60]}' has {len(parts)} fields", path=path,
                                       fix="write '<video> <motion>' or '<motion>' per line")
        members = sorted(set(members))
        if len(members) >= 2:
            subsets[path.stem] = members
        else:
            notes.append(f"splits/{path.name}: {len(members)} test pairs, not evaluated (a training list or too small)")
    return subsets, notes


def chance_test(video_emb: np.ndarray, motion_emb: np.ndarray, batch_size: int) -> dict[str, Any]:
    """One-sided test that REAL pairs are ranked above chance: in each R-precision ranking pool (consecutive
    batches of `batch_size`), a pair is a hit when its true motion is strictly nearest to its video (ties are
    misses, so a collapsed evaluator scores 0, where the R-precision metric counts ties as hits); under chance a
    pool of size N hits with p = 1/N. Equal pools: scipy's binomtest; mixed: the exact Poisson-binomial tail."""
    from scipy.stats import binomtest

    hits, pools = 0, []
    for s in range(0, video_emb.shape[0], batch_size):
        q, t = video_emb[s:s + batch_size].astype(np.float64), motion_emb[s:s + batch_size].astype(np.float64)
        dist = np.sqrt(np.maximum((q * q).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2 * q @ t.T, 0))
        other = dist + np.diag(np.full(len(q), np.inf))
        hits += int((np.diagonal(dist) < other.min(1)).sum())
        pools.append(len(q))
    probs = np.concatenate([np.full(k, 1.0 / k) for k in pools])
    if len(set(pools)) == 1:
        p_value = float(binomtest(hits, len(probs), probs[0], alternative="greater").pvalue)
    else:
        dist = np.zeros(len(probs) + 1)
        dist[0] = 1.0
        for pr in probs:  # distribution of the number of hits, one pair at a time
            dist[1:] = dist[1:] * (1 - pr) + dist[:-1] * pr
            dist[0] *= 1 - pr
        p_value = float(min(1.0, dist[hits:].sum()))
    return {"hits": hits, "pairs": int(len(probs)), "pools": sorted(set(pools)), "expected": float(probs.sum()),
            "p_value": p_value}


class Bench:
    """Everything one benchmark needs in memory: release, video features, evaluator, HERO."""

    def __init__(self, cfg: BenchConfig, *, will_train: bool = False):
        """`will_train`: the caller trains HERO's stages, so their selection set must exist (checked before the
        video features are computed)."""
        from vimo.models.train import build_encoder, release_video_features
        from vimo.models.video_encoder import FeatureCache

        self.cfg = cfg
        self.p: Preset = preset(cfg.preset)
        if cfg.evaluator_space not in ("official", "consistent"):
            raise InputFormatError(f"unknown evaluator space '{cfg.evaluator_space}'", fix="use official or consistent")
        self.out = Path(cfg.out)
        self.device = torch.device(cfg.device)
        self.release = ReleaseFolder(cfg.release, cfg.split)
        if self.release.split is not None and cfg.evaluator is None:
            raise InputFormatError(f"a benchmark of split '{self.release.split}' needs the base benchmark's evaluator",
                                   path=self.release.root, fix="pass --evaluator BASE_BENCH/evaluator/evaluator.tar "
                                   "(or the official T2M evaluator folder) so base and split results are comparable")
        self.timing: dict[str, float] = {}
        self.encoder = build_encoder(cfg.encoder, self.p.transformer.video_dim)
        self.cache = FeatureCache.for_run(self.out, cfg.feature_cache)
        self.feature_dir = self.cache.root
        self.train_pairs = self.release.pairs("train")
        self.test_pairs = self.release.pairs("test")
        if len(self.test_pairs) < 2:
            raise InputFormatError("test.txt lists fewer than 2 pairs", path=self.release.root / "test.txt",
                                   fix="benchmark a release with a test split")
        if cfg.select_on not in SELECT_ON:
            raise InputFormatError(f"unknown selection set '{cfg.select_on}'", fix="use --select-on val, test or none")
        self.select_on = cfg.select_on if cfg.select_by_fid else "none"
        self.val_pairs, self.val_notes = self._val_pairs()
        if self.select_on == "val" and self.val_pairs is not None and len(self.val_pairs) < cfg.min_val_pairs:
            self.val_notes.append(
                f"selection: {len(self.val_pairs)} usable val pairs, fewer than min_val_pairs {cfg.min_val_pairs}: an "
                f"FID on so few pairs ranks checkpoints by noise, so every stage keeps its last epoch (select_on none)")
            self.select_on = "none"
        if will_train and self.select_on != "none":
            self.selection_pairs()  # a release without val pairs fails before any work
        t0 = time.perf_counter()
        pairs = self.train_pairs + self.test_pairs + (self.val_pairs or [])
        self.features = release_video_features(self.release, [v for v, _ in pairs], self.encoder, self.cache)
        self.timing["video_features_s"] = time.perf_counter() - t0
        self.motions = {m: self.release.motion(m) for _, m in pairs}
        self.rvq_mean, self.rvq_std = rvq_normalisation(*self.release.statistics(), self.p.feat_bias)
        self.release_sha = release_checksum(self.release.root)

    def _val_pairs(self) -> tuple[list[tuple[str, str]] | None, list[str]]:
        """The validation pairs (None when the release has no val list); pairs sharing a video or a motion
        with the evaluated test set are dropped (a split view falling back to the base val list), noted."""
        try:
            path = self.release.list_path("val")
        except InputFormatError:
            return None, []
        pairs = self.release.pairs("val")
        videos, motions = {v for v, _ in self.test_pairs}, {m for _, m in self.test_pairs}
        kept = [(v, m) for v, m in pairs if v not in videos and m not in motions]
        notes = []
        if len(kept) < len(pairs):
            notes.append(f"selection: {len(pairs) - len(kept)} of {len(pairs)} pairs of "
                         f"{path.relative_to(self.release.root).as_posix()} share a video or motion with the test "
                         f"set and are not used for selection")
        return kept, notes

    def selection_pairs(self) -> tuple[str, list[tuple[str, str]]]:
        """(name, pairs) the in-training FID is computed on: the val pairs (`val`) or the test pairs (`test`);
        raises ValidationSplitError when selecting on val and the release has no usable val pairs."""
        if self.select_on == "test":
            return "test", self.test_pairs
        if self.select_on != "val":
            raise InputFormatError("no selection set (select_on none)", fix="use select_on val or test")
        if not self.val_pairs or len(self.val_pairs) < 2:
            found = "no val.txt" if self.val_pairs is None else f"{len(self.val_pairs or [])} usable val pairs (< 2)"
            raise ValidationSplitError(
                f"checkpoint selection on the validation split, but the release has {found}",
                path=self.release.root, fix="rebuild the release with a val split ([split] val_fraction = 0.1), or "
                "pass --select-on test (official HERO: selects on the test split, labelled) or --select-on none")
        return "val", self.val_pairs

    # --- evaluator ---------------------------------------------------------------------------------------

    def load_or_train_evaluator(self) -> MotionEvaluator:
        cfg = self.cfg
        if cfg.evaluator is not None:
            ev = load_evaluator(cfg.evaluator, self.device)
        else:
            path = self.out / "evaluator" / "evaluator.tar"
            if path.is_file():
                ev = load_evaluator(path, self.device)
            else:
                t0 = time.perf_counter()
                ev_cfg = tiny_evaluator_config() if self.p.name == "tiny" else EvaluatorConfig()
                ev_cfg.video_dim = self.p.transformer.video_dim
                tiny = self.p.name == "tiny"
                epochs = cfg.evaluator_epochs or (20 if tiny else 50)
                # tiny: at least TINY_EVALUATOR_STEPS steps (20 epochs of a demo-sized release left it at chance)
                min_steps = TINY_EVALUATOR_STEPS if tiny and cfg.evaluator_epochs is None else 0
                training = EvaluatorTraining(epochs=epochs, min_steps=min_steps, batch_size=64 if not tiny else 16,
                                             lr=1e-4 if self.p.name == "hero" else 2e-3,
                                             max_length=self.p.max_motion_length,
                                             extra={"release_sha256": self.release_sha, "release": str(self.release.root),
                                                    "preset": self.p.name, "video_encoder": self.encoder.encoder_id})
                model = train_vimo_evaluator([self.motions[m] for _, m in self.train_pairs],
                                             [self.features[v] for v, _ in self.train_pairs],
                                             [v for v, _ in self.train_pairs], self.rvq_mean, self.rvq_std, ev_cfg,
                                             training, self.encoder.encoder_id, self.device)
                save_vimo_evaluator(model, path)
                ev = load_evaluator(path, self.device)
                self.timing["evaluator_train_s"] = time.perf_counter() - t0
        if isinstance(ev, VimoEvaluator) and ev.video_encoder_id != self.encoder.encoder_id:
            raise InputFormatError(f"evaluator {ev.evaluator_id} was trained on video features of "
                                   f"'{ev.video_encoder_id}', the benchmark uses '{self.encoder.encoder_id}'",
                                   path=cfg.evaluator, fix="pass the same --encoder, or another evaluator")
        return ev

    # --- feeding -----------------------------------------------------------------------------------------

    def eval_set(self, name: str, indices: list[int], pairs: list[tuple[str, str]] | None = None) -> EvalSet:
        """The materialised test loader of a set (indices into `pairs`, default the test pairs); motions longer
        than max_motion_length are evaluated on their first max_motion_length frames (same crops in every
        replication and variant; noted)."""
        pairs = [(self.test_pairs if pairs is None else pairs)[i] for i in indices]
        lengths = [self.motions[m].shape[0] for _, m in pairs]
        plan = ReactionPlan(lengths, self.cfg.batch_size, self.cfg.seed, unit=self.p.unit_length,
                            max_length=self.p.max_motion_length, frozen=True, longer=LONGER_HEAD)
        note = plan.longer_note(name)
        return EvalSet(name, pairs, plan.epoch(0), [note] if note else [])

    def longer_counts(self) -> dict[str, int]:
        """Motions of the train / test pairs longer than max_motion_length (cut by the rule of data.py)."""
        m = self.p.max_motion_length
        return {k: sum(self.motions[x].shape[0] > m for _, x in pairs)
                for k, pairs in (("train", self.train_pairs), ("test", self.test_pairs))}

    def batch_tensors(self, s: EvalSet, batch: list[Crop]) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """(B, F, D) video features, (B, max_len, 263) RVQ-normalised GT motions, (B,) frame lengths."""
        video = torch.from_numpy(np.stack([self.features[s.pairs[c.index][0]] for c in batch])).to(self.device)
        gt = np.stack([padded_motion(self.motions[s.pairs[c.index][1]], c, self.rvq_mean, self.rvq_std,
                                     self.p.max_motion_length) for c in batch])
        return video, gt, np.array([c.length for c in batch])

    def embed(self, ev: MotionEvaluator, motions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Evaluator embeddings of RVQ-normalised motions (re-normalised with the evaluator meta if asked)."""
        if self.cfg.evaluator_space == "consistent":
            motions = ((motions * self.rvq_std + self.rvq_mean) - ev.mean) / ev.std
        return ev.motion_embeddings(motions.astype(np.float32), lengths)

    # --- generation --------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, hero, video: torch.Tensor, frames: np.ndarray, repeats: int = 1,
                 base_out: list | None = None) -> np.ndarray:
        """(B, F, D) videos -> (B*repeats, 4*max tokens, 263) RVQ-normalised reactions (repeats of a video are
        consecutive), generated in chunks of at most `max_generation_batch` samples. `base_out` receives each
        sample's generated base-layer tokens (a tuple, pads dropped)."""
        tokens = torch.as_tensor(frames // self.p.unit_length, device=self.device)
        video = video.repeat_interleave(repeats, 0)
        tokens = tokens.repeat_interleave(repeats, 0)
        n_max = int(tokens.max())
        out = []
        step = self.cfg.max_generation_batch
        for s in range(0, video.shape[0], step):
            v, t = video[s:s + step], tokens[s:s + step]
            base = hero.mask.generate(v, t, time_steps=self.cfg.time_steps, cond_scale=self.cfg.cond_scale)
            if base_out is not None:
                base_out.extend(tuple(int(c) for c in row[:int(n)]) for row, n in zip(base.cpu().numpy(), t.cpu()))
            if hero.res is None:  # single-quantiser VQ-VAE: the base codes are all the codes
                codes = base.unsqueeze(-1)
            else:
                codes = hero.res.generate(base, v, t, cond_scale=self.cfg.res_cond_scale)
            if codes.shape[1] < n_max:
                codes = torch.cat([codes, codes.new_full((codes.shape[0], n_max - codes.shape[1], codes.shape[2]), -1)], 1)
            out.append(hero.rvq.forward_decoder(codes).float().cpu().numpy())
        return np.concatenate(out, 0)

    # --- generation metrics --------------------------------------------------------------------------------

    def evaluate_generation(self, hero, ev: MotionEvaluator, s: EvalSet) -> dict[str, Any]:
        cfg = self.cfg
        video_branch = isinstance(ev, VimoEvaluator)
        tensors = [self.batch_tensors(s, b) for b in s.batches]
        gt_emb = np.concatenate([self.embed(ev, gt, lens) for _, gt, lens in tensors])
        vid_emb = np.concatenate([ev.video_embeddings(v) for v, _, _ in tensors]) if video_branch else None
        n = gt_emb.shape[0]
        times = M.diversity_times(n, cfg.diversity_rule)
        notes = list(s.notes)
        if times > n:
            notes.append(f"{s.name}: Diversity pairs clamped from {times} to N = {n} (the official code would fail)")
            times = n
        if n <= gt_emb.shape[1]:
            notes.append(f"{s.name}: FID from {n} samples of {gt_emb.shape[1]}-d embeddings (rank-deficient "
                         f"covariance; the eps fallback may apply)")
        mm_ok = cfg.mm_batches > 0 and cfg.mm_repeats >= cfg.mm_times
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        rep_times: list[float] = []

        bases: list[tuple[int, ...]] = []  # first replication: the base tokens of each pair's FID row
        reaction = ReactionBench.for_set(self, s)

        def once(i: int) -> dict[str, float]:
            t0 = time.perf_counter()
            gen_rows, mm_rows = [], []
            for b, (video, _, lens) in enumerate(tensors):
                codes: list | None = [] if i == 0 else None
                if mm_ok and b < cfg.mm_batches:
                    gen = self.generate(hero, video, lens, cfg.mm_repeats, base_out=codes)
                    emb = self.embed(ev, gen, np.repeat(lens, cfg.mm_repeats)).reshape(len(lens), cfg.mm_repeats, -1)
                    mm_rows.append(emb)
                    gen_rows.append(emb[:, -1])  # FID/Diversity rows of MM batches: the last generation
                    if codes is not None:
                        bases.extend(codes[cfg.mm_repeats - 1::cfg.mm_repeats])
                    if reaction is not None:
                        reaction.add(i, s.batches[b], gen[cfg.mm_repeats - 1::cfg.mm_repeats])
                else:
                    gen = self.generate(hero, video, lens, base_out=codes)
                    gen_rows.append(self.embed(ev, gen, lens))
                    if codes is not None:
                        bases.extend(codes)
                    if reaction is not None:
                        reaction.add(i, s.batches[b], gen)
            gen_emb = np.concatenate(gen_rows)
            values = {"fid": M.fid(gt_emb, gen_emb), "diversity_real": M.diversity(gt_emb, times, rng),
                      "diversity": M.diversity(gen_emb, times, rng)}
            if mm_rows:
                values["multimodality"] = M.multimodality(np.concatenate(mm_rows), cfg.mm_times, rng)
            if vid_emb is not None:
                for key, target in (("", gen_emb), ("_real", gt_emb)):
                    top, score = M.r_precision(vid_emb, target, batch_size=cfg.batch_size)
                    values.update({f"r_precision{key}_top{k + 1}": float(top[k]) for k in range(3)})
                    values[f"matching_score{key}"] = score
            rep_times.append(time.perf_counter() - t0)
            return values

        reps = M.replicate(once, cfg.replications)
        div, div_real = reps["diversity"].mean, reps["diversity_real"].mean
        # sequences compared on their first L tokens (L = the shortest): a generator that ignores its video
        # differs across pairs only by length, which must not count as variety
        common = min((len(b) for b in bases), default=0)
        sanity: dict[str, Any] = {"collapse": {
            "distinct_base_sequences": len({b[:common] for b in bases}) if bases else None, "pairs": n,
            "compared_tokens": common, "diversity_ratio": float(div / div_real) if div_real > 0 else None}}
        if vid_emb is not None:
            sanity["chance"] = chance_test(vid_emb, gt_emb, cfg.batch_size)
        out = {"size": n, "diversity_times": times, "mm_videos": int(sum(len(t[2]) for t in tensors[:cfg.mm_batches]))
               if mm_ok else 0, "metrics": {k: v.as_dict() for k, v in reps.items()}, "notes": notes,
               "replication_s": float(np.mean(rep_times)), "sanity": sanity}
        if reaction is not None:
            out["reaction"] = reaction.result()
            self.timing["reaction_measures_s"] = self.timing.get("reaction_measures_s", 0.0) + reaction.seconds
        return out

    # --- sanity ladder ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def ladder(self, rvq, ev: MotionEvaluator, s: EvalSet, generation_fid: float) -> dict[str, Any]:
        """FIDs against the set's real motions (evaluator embeddings of its fixed crops): two disjoint seeded
        halves of them, their RVQ reconstruction, the generation (given), and the RVQ decoding uniformly random
        codes of every layer / code 0 everywhere at the same token lengths (`vimo.models.report` checks the order).
        The two baselines are also computed at real-vs-real's sample size (`*_halves`: the codes of one half
        decoded, against the other half's real motions), since FID's small-sample bias grows as the sets shrink:
        real vs real of two halves is compared with those. A rung that cannot be computed is None with a note
        (halves of fewer than 2 motions) or NaN (a FID error)."""
        tensors = [self.batch_tensors(s, b) for b in s.batches]
        gt_emb = np.concatenate([self.embed(ev, gt, lens) for _, gt, lens in tensors])
        n = gt_emb.shape[0]
        gen = torch.Generator().manual_seed(self.cfg.seed)
        nb_code, q = int(rvq.cfg.nb_code), int(rvq.cfg.num_quantizers)
        rows: dict[str, list[np.ndarray]] = {"reconstruction": [], "random_codes": [], "constant_codes": []}
        for _, gt, lens in tensors:
            tokens = torch.as_tensor(lens // self.p.unit_length)
            t_max = int(tokens.max())
            pad = torch.arange(t_max)[None, :] >= tokens[:, None]
            rand = torch.randint(0, nb_code, (len(lens), t_max, q), generator=gen)
            for key, codes in (("random_codes", rand), ("constant_codes", torch.zeros_like(rand))):
                codes = codes.masked_fill(pad[..., None], -1).to(self.device)
                rows[key].append(self.embed(ev, rvq.forward_decoder(codes).float().cpu().numpy(), lens))
            x = torch.from_numpy(gt).to(self.device)
            rows["reconstruction"].append(self.embed(ev, rvq.forward_decoder(rvq.encode(x)).float().cpu().numpy(), lens))
        emb = {key: np.concatenate(v) for key, v in rows.items()}
        out: dict[str, Any] = {}
        notes = []

        def fid(key: str, a: np.ndarray, b: np.ndarray) -> float:
            try:
                return M.fid(a, b)
            except M.MetricError as exc:
                notes.append(f"{s.name}: ladder rung {key}: {exc.problem}")
                return float("nan")

        half = n // 2
        perm = np.random.default_rng(self.cfg.seed).permutation(n)
        first, second = perm[:half], perm[half:2 * half]
        if half >= 2:
            out["real_vs_real"] = fid("real_vs_real", gt_emb[first], gt_emb[second])
            for key in ("random_codes", "constant_codes"):
                out[f"{key}_halves"] = fid(f"{key}_halves", emb[key][first], gt_emb[second])
        else:
            out["real_vs_real"] = out["random_codes_halves"] = out["constant_codes_halves"] = None
            notes.append(f"{s.name}: real-vs-real needs halves of 2 motions or more (N = {n})")
        out["reconstruction"] = fid("reconstruction", gt_emb, emb["reconstruction"])
        out["generation"] = float(generation_fid)
        for key in ("random_codes", "constant_codes"):
            out[key] = fid(key, gt_emb, emb[key])
        values = [out[k] for k in ("real_vs_real", "reconstruction", "generation", "random_codes")]
        if all(v is not None and math.isfinite(v) for v in values):
            rvr, rec, g, rnd = values
            out["order"] = {"real_vs_real_le_reconstruction": rvr <= rec, "reconstruction_le_generation": rec <= g,
                            "generation_lt_random_codes": g < rnd,
                            "generation_lt_constant_codes": g < out["constant_codes"]}
        out["halves"] = [half, half]
        out["notes"] = notes
        return out

    # --- reconstruction --------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate_reconstruction(self, rvq, ev: MotionEvaluator, replications: int | None = None) -> dict[str, Any]:
        """RVQ-VAE reconstruction of motions_test.txt (motions of >= 20 frames), batch 32 with drop_last and new
        crops each replication. Official (eval_vq): the motions are normalised with the evaluator meta and that
        tensor feeds both the RVQ and the evaluator; `consistent`: the RVQ gets its own normalisation. Motions
        longer than max_motion_length (which eval_vq drops above 200 frames) are evaluated on their first
        max_motion_length frames, noted."""
        cfg = self.cfg
        motions = [self.motions[m] if m in self.motions else self.release.motion(m) for m in self.release.motions("test")]
        motions = [m for m in motions if m.shape[0] >= 20]
        if len(motions) < 2:
            raise InputFormatError("motions_test.txt has fewer than 2 motions of 20 frames or more",
                                   path=self.release.root / "motions_test.txt", fix="benchmark a fuller release")
        official = cfg.evaluator_space == "official"
        mean, std = (ev.mean, ev.std) if official else (self.rvq_mean, self.rvq_std)
        drop_last = len(motions) >= cfg.batch_size
        notes = [] if drop_last else [f"reconstruction: {len(motions)} test motions < batch {cfg.batch_size}; "
                                      f"the last partial batch is kept (official drop_last would leave none)"]
        plan = ReactionPlan([m.shape[0] for m in motions], cfg.batch_size, cfg.seed, unit=self.p.unit_length,
                            max_length=self.p.max_motion_length, frozen=False, drop_last=drop_last, longer=LONGER_HEAD)
        if plan.longer_note("reconstruction"):
            notes.append(plan.longer_note("reconstruction"))
        rng = np.random.default_rng(cfg.seed)
        reps, mpjpe = M.Replications(), M.MPJPE()

        def embed(x: np.ndarray, lens: np.ndarray) -> np.ndarray:
            if not official:
                x = ((x * std + mean) - ev.mean) / ev.std
            return ev.motion_embeddings(x.astype(np.float32), lens)

        for r in range(replications or cfg.replications):
            gt_rows, rec_rows = [], []
            for batch in plan.epoch(r):
                gt = np.stack([padded_motion(motions[c.index], c, mean, std, self.p.max_motion_length) for c in batch])
                lens = np.array([c.length for c in batch])
                rec = rvq.forward_decoder(rvq.encode(torch.from_numpy(gt).to(self.device))).float().cpu().numpy()
                gt_rows.append(embed(gt, lens))
                rec_rows.append(embed(rec, lens))
                if r == 0:
                    for i, n in enumerate(lens):
                        mpjpe.update(recover_from_ric(rec[i, :n] * std + mean), recover_from_ric(gt[i, :n] * std + mean))
            gt_emb, rec_emb = np.concatenate(gt_rows), np.concatenate(rec_rows)
            # eval_vq draws 300 pairs if N > 300 else 100 (clamped to N here)
            times = min(M.DIVERSITY_TIMES if gt_emb.shape[0] > M.DIVERSITY_TIMES else 100, gt_emb.shape[0])
            reps.update({"fid": M.fid(gt_emb, rec_emb), "diversity_real": M.diversity(gt_emb, times, rng),
                         "diversity": M.diversity(rec_emb, times, rng)})
        out: dict[str, Any] = {k: v.as_dict() for k, v in reps.compute().items()}
        # MPJPE over the first replication's crops, metres (root-aligned per frame, joints by recover_from_ric)
        out["mpjpe"] = {"mean": mpjpe.compute(), "frames": mpjpe.frames}
        out["notes"] = notes
        out["size"] = len(motions)
        return out

    # --- training ------------------------------------------------------------------------------------------

    def selection_hook(self, stage: str, ev: MotionEvaluator, rvq_dir: Path | None, p: Preset | None = None
                       ) -> Callable[[torch.nn.Module, int], dict[str, float]]:
        """evaluate(model, epoch) for train(): the FID of the stage on the selection set (`selection_pairs`: the
        val pairs, or the test pairs under select_on test) as the official in-training eval (rvq: reconstruction;
        mask: base layer only, CFG 4; res: GT base codes + generated layers, CFG 2)."""
        from vimo.models.train import load_rvq_run

        p = p or self.p
        name, pairs = self.selection_pairs()
        s = self.eval_set(name, list(range(len(pairs))), pairs)
        tensors = [self.batch_tensors(s, b) for b in s.batches]
        gt_emb = np.concatenate([self.embed(ev, gt, lens) for _, gt, lens in tensors])

        @torch.no_grad()
        def evaluate(model: torch.nn.Module, epoch: int) -> dict[str, float]:
            # every evaluation (the RVQ's loading included) draws from one seed on a forked RNG: the FID is a
            # function of the weights alone (two runs reaching the same weights select alike) and training's random
            # stream is untouched (HERO draws from the training stream, so its selection also depends on history)
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(self.cfg.seed)
                return {"fid": M.fid(gt_emb, np.concatenate(generate(model)))}

        def generate(model: torch.nn.Module) -> list[np.ndarray]:
            was = model.training
            model.eval()
            rvq = model if stage == "rvq" else load_rvq_run(rvq_dir, p, self.device)[0]
            rows = []
            for video, gt, lens in tensors:
                x = torch.from_numpy(gt).to(self.device)
                tokens = torch.as_tensor(lens // self.p.unit_length, device=self.device)
                if stage == "rvq":
                    out = rvq.forward_decoder(rvq.encode(x))
                elif stage == "mask":
                    base = model.generate(video, tokens, time_steps=self.cfg.time_steps, cond_scale=self.cfg.cond_scale)
                    out = rvq.forward_decoder(base.unsqueeze(-1))
                else:
                    codes = rvq.encode(x)
                    out = rvq.forward_decoder(model.generate(codes[..., 0], video, tokens, cond_scale=2.0))
                rows.append(self.embed(ev, out.float().cpu().numpy(), lens))
            model.train(was)
            return rows

        return evaluate

    def selection_record(self) -> dict[str, Any]:
        """What a trained stage folder records about its checkpoint selection (SELECTION_FILE)."""
        rec: dict[str, Any] = {"select_on": self.select_on}
        if self.select_on != "none":
            name, pairs = self.selection_pairs()
            rec.update({"list": self.release.describe()["test_list"] if name == "test"
                        else self.release.list_path("val").relative_to(self.release.root).as_posix(),
                        "pairs": len(pairs)})
        return rec

    def train_hero(self, ev: MotionEvaluator) -> Path:
        root = self.out / "checkpoints"
        self.train_variant(ev, variant_runs(root, self.p, self.p), self.p)
        return root

    def train_variant(self, ev: MotionEvaluator, runs: VariantRuns, p: Preset,
                      max_steps: int | None = None) -> VariantRuns:
        """Train (or resume) the stages of one variant into its run folders; a shared RVQ is trained first
        when missing. `max_steps` bounds every stage (smoke runs)."""
        from vimo.models.train import TrainConfig, train

        t0 = time.perf_counter()
        stages = list(runs.stages)
        if "rvq" not in stages and not (runs.rvq / "model").is_dir():
            stages.insert(0, "rvq")  # the shared HERO RVQ is not trained yet
        for stage in stages:
            out = runs.run(stage)
            # a shared RVQ is HERO's run: it is trained (and resumed) as the `hero` variant whichever variant asks
            sp = self.p if stage == "rvq" and "rvq" not in runs.stages else p
            tc = TrainConfig(stage=stage, release=self.release.root, out=out, preset=sp, split=self.release.split,
                             rvq_dir=None if stage == "rvq" else runs.rvq, encoder=self.cfg.encoder,
                             feature_cache=self.feature_dir, epochs=self.cfg.epochs,
                             device=self.cfg.device, progress=self.cfg.progress, max_steps=max_steps)
            hook = self.selection_hook(stage, ev, runs.rvq, sp) if self.select_on != "none" else None
            summary = train(tc, evaluate=hook)
            if not summary["finished"] and max_steps is None:
                raise InputFormatError(f"{stage} training stopped early", path=out, fix="re-run to resume")
            write_json(out / SELECTION_FILE, self.selection_record())
        key = "train_s" if p.variant == "hero" else f"train_{p.variant}_s"
        self.timing[key] = time.perf_counter() - t0
        return runs


def trained_split(run: Path) -> str | None:
    """The training split a run folder records in its run.json (`base` for runs from before splits were
    recorded), or None when it has no readable run.json (official run folders)."""
    import json

    try:
        info = json.loads((Path(run) / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if isinstance(info.get("data"), dict) and "name" in info["data"]:
        return str(info["data"]["name"])
    config = info.get("config") or {}
    return str(config.get("split") or "base") if not config.get("train_list") else f"list:{config['train_list']}"


def check_checkpoint_split(runs: VariantRuns, split: str) -> list[str]:
    """Refuse given checkpoints trained on another split than the benchmark's; notes for unrecorded ones."""
    notes = []
    for stage, path in checkpoint_files(runs).items():
        run = path.parent.parent
        found = trained_split(run)
        if found is None:
            notes.append(f"checkpoints: {run.name} records no training split (assumed {split})")
        elif found != split:
            raise InputFormatError(f"{runs.name} {stage} was trained on split '{found}', the benchmark is of "
                                   f"split '{split}'", path=run,
                                   fix=f"pass --checkpoints trained with --split {split}, or leave --checkpoints "
                                   f"out to train them")
    return notes


def check_checkpoint_selection(runs: VariantRuns, select_on: str) -> list[str]:
    """Refuse given checkpoints whose recorded selection set (SELECTION_FILE) differs from `select_on`; checkpoints
    without a record are accepted as declared for `test` / `none` (noted) and refused for `val` (a val claim
    cannot be checked; official HERO checkpoints were selected on test)."""
    import json

    notes = []
    for stage, path in checkpoint_files(runs).items():
        run = path.parent.parent
        try:
            found = json.loads((run / SELECTION_FILE).read_text()).get("select_on")
        except (OSError, ValueError, AttributeError):
            found = None
        if found is None:
            if select_on == "val":
                raise InputFormatError(f"{runs.name} {stage} records no checkpoint selection set, the benchmark "
                                       f"declares selection on val", path=run,
                                       fix="pass --select-on test for official HERO checkpoints (selected on the test "
                                       "split) or --select-on none, or train them with vimo bench")
            notes.append(f"checkpoints: {run.name} records no selection set (declared: {select_on})")
        elif found != select_on:
            raise InputFormatError(f"{runs.name} {stage} was selected on '{found}', the benchmark declares "
                                   f"'{select_on}'", path=run, fix=f"pass --select-on {found}")
    return notes


def _files(runs: VariantRuns) -> dict[str, dict[str, str]]:
    return {stage: {"path": str(path), "sha256": sha256_file(path)} for stage, path in checkpoint_files(runs).items()}


def train_base_evaluator(cfg: BenchConfig) -> Path:
    """The vimo evaluator a base benchmark of cfg.release trains (on the base train list), trained into (or reused
    from) `<cfg.out>/evaluator/evaluator.tar`; returns that path, to pass as `evaluator` to split benchmarks."""
    from dataclasses import replace

    bench = Bench(replace(cfg, split=None, evaluator=None))
    bench.load_or_train_evaluator()
    return bench.out / "evaluator" / "evaluator.tar"


def bench_variants(cfg: BenchConfig) -> list[Preset]:
    """The presets of cfg.variants (validated, duplicates dropped, order kept)."""
    names = list(dict.fromkeys(cfg.variants or ["hero"]))
    base = preset(cfg.preset)
    return [variant_preset(base, n) for n in names]


def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Train or load, evaluate, and write results.json, report.md and plots under cfg.out; returns the results.

    With several variants, each is trained into (or loaded from) its folder of the checkpoints folder and
    evaluated on the same fixed sets; `results["variants"]` holds each one's sets, reconstruction and
    checkpoints, and the report gets one table per evaluated set with a row per variant."""
    from vimo import __version__

    variants = bench_variants(cfg)  # unknown names fail before any work
    t_start = time.perf_counter()
    bench = Bench(cfg, will_train=cfg.checkpoints is None)
    ev = bench.load_or_train_evaluator()
    base = Path(cfg.checkpoints) if cfg.checkpoints is not None else bench.out / "checkpoints"

    sets = {"test": bench.eval_set("test", list(range(len(bench.test_pairs))))}
    subset_notes: list[str] = []
    if cfg.subsets:
        subsets, subset_notes = read_subset_lists(bench.release, bench.test_pairs)
        for name, idx in subsets.items():
            sets[name if name != "test" else "splits_test"] = bench.eval_set(name, idx)
    sets["test"].notes.extend(subset_notes)
    if cfg.checkpoints is None and cfg.select_on == "val" and cfg.select_by_fid:
        sets["test"].notes.extend(bench.val_notes)
    longer = bench.longer_counts()
    trained = [w for w, here in (("HERO's transformers", cfg.checkpoints is None),
                                 ("the vimo evaluator", cfg.evaluator is None)) if here]
    if longer["train"] and trained:
        sets["test"].notes.append(
            f"training: {longer['train']} of {len(bench.train_pairs)} training motions longer than max_motion_length "
            f"{bench.p.max_motion_length} were trained on seeded random windows of {bench.p.max_motion_length} "
            f"frames, new every epoch ({' and '.join(trained)})")
    split = bench.release.describe()
    if bench.release.split is not None and bench.release.statistics_folder() != bench.release.root \
            and cfg.evaluator_space == "official":
        sets["test"].notes.append(
            f"split {split['name']}: motions are normalised with the split's own statistics ({split['statistics']}),"
            f" for training and, under evaluator_space official, for the evaluator too; --evaluator-space "
            f"consistent feeds the evaluator identical inputs for identical motions across splits")

    per_variant: dict[str, dict[str, Any]] = {}
    reconstructions: dict[str, dict[str, Any]] = {}
    for vp in variants:
        runs = variant_runs(base, vp, bench.p)
        if cfg.checkpoints is None:
            bench.train_variant(ev, runs, vp)
        else:
            sets["test"].notes.extend(check_checkpoint_split(runs, bench.release.split_name))
            sets["test"].notes.extend(check_checkpoint_selection(runs, bench.select_on))
        hero = load_variant(runs, vp, cfg.device)
        tag = "" if vp.variant == "hero" else f"{vp.variant}_"
        results_sets = {}
        for name, s in sets.items():
            t0 = time.perf_counter()
            results_sets[name] = bench.evaluate_generation(hero, ev, s)
            results_sets[name]["sanity"]["ladder"] = bench.ladder(
                hero.rvq, ev, s, results_sets[name]["metrics"]["fid"]["mean"])
            bench.timing[f"eval_{tag}{name}_s"] = time.perf_counter() - t0
        bench.timing[f"replication_{tag}test_s"] = results_sets["test"]["replication_s"]
        files = _files(runs)
        rvq_key = files["rvq"]["sha256"]
        if rvq_key not in reconstructions:  # variants sharing HERO's RVQ share its reconstruction numbers
            t0 = time.perf_counter()
            reconstructions[rvq_key] = bench.evaluate_reconstruction(hero.rvq, ev)
            bench.timing[f"reconstruction_{tag}s"] = time.perf_counter() - t0
        per_variant[vp.variant] = {"description": VARIANTS[vp.variant].description, "sets": results_sets,
                                   "reconstruction": reconstructions[rvq_key], "checkpoints": files,
                                   "rvq_shared": runs.rvq != runs.root / "rvq" and vp.variant != "hero",
                                   "layers": vp.transformer.num_layers, "quantizers": vp.rvq.num_quantizers}
    bench.timing["total_s"] = time.perf_counter() - t_start
    first = per_variant[variants[0].variant]

    protocol = {"preset": bench.p.name, "batch_size": cfg.batch_size, "replications": cfg.replications,
                "diversity_rule": cfg.diversity_rule, "mm_batches": cfg.mm_batches, "mm_repeats": cfg.mm_repeats,
                "mm_times": cfg.mm_times, "seed": cfg.seed, "time_steps": cfg.time_steps,
                "cond_scale": cfg.cond_scale, "res_cond_scale": cfg.res_cond_scale,
                "evaluator_space": cfg.evaluator_space, "max_motion_length": bench.p.max_motion_length,
                "unit_length": bench.p.unit_length, "video_encoder": bench.encoder.encoder_id,
                "longer_motions": LONGER_MOTIONS, "select_on": bench.select_on}
    if [v.variant for v in variants] != ["hero"]:
        protocol["variants"] = [v.variant for v in variants]
    provenance = {"release_name": bench.release.root.name, "release_path": str(bench.release.root),
                  "release_sha256": bench.release_sha, "split": split["name"], "train_pairs": len(bench.train_pairs),
                  "test_pairs": len(bench.test_pairs), "val_pairs": len(bench.val_pairs or []),
                  "longer_than_max_motion_length": longer,
                  "vimo_version": __version__,
                  "seeds": {"train": bench.p.seed, "eval": cfg.seed}, "trained_here": cfg.checkpoints is None,
                  "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "hardware": hardware(), "checkpoints": first["checkpoints"]}
    results = {"format": RESULTS_FORMAT, "evaluator": ev.describe(), "protocol": protocol, "provenance": provenance,
               "split": split,
               "sets": first["sets"], "reconstruction": first["reconstruction"], "timing": bench.timing,
               "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}}
    if len(variants) > 1 or variants[0].variant != "hero":
        results["variants"] = per_variant
    reasons = validity_reasons(results)
    results.update({"valid": not reasons, "invalid_reasons": reasons, "validity_rules": VALIDITY_RULES})
    out = Path(cfg.out)
    write_json(out / "results.json", results)
    write_text(out / "report.md", render_report(results))
    plot_results(results, out)
    return results


# --- reaction measures (docs/benchmark.md §8) -----------------------------------------------------------------

#: voxel edge (m) of the penetration volume in the benchmark (the card's is 1 cm): 20 replications of every
#: original test pair stay a small share of the bench's time
BENCH_VOXEL = 0.02


class ReactionBench:
    """The reaction measures of one evaluated set's original pairs (video showing their own actor, whose joints
    the release carries): the real reactions on the evaluated crops, and each replication's generations
    (`add`), summarised per replication and over replications (mean, 95 % CI) by `result`."""

    def __init__(self, bench: "Bench", s: EvalSet, rows: dict[int, dict[str, Any]]):
        from vimo.metrics.reaction import ReactionReference, clip_measures
        from vimo.release.measures import load_actor, load_camera

        t0 = time.perf_counter()
        self.bench, self.s, self.rows = bench, s, rows
        self.fps = 20.0
        self.actor = {i: np.asarray(load_actor(bench.release.root, r), np.float64) for i, r in rows.items()}
        self.camera = {i: load_camera(bench.release.root, r) for i, r in rows.items()}
        self.crops = {c.index: c for batch in s.batches for c in batch if c.index in rows}
        self.real = {}
        for i, c in self.crops.items():
            joints = recover_from_ric(bench.motions[s.pairs[i][1]][c.start:c.start + c.length])
            self.real[i] = clip_measures(joints, self.actor[i][c.start:c.start + c.length], self.fps,
                                         camera=self._camera(i), voxel=BENCH_VOXEL)
        self.reference = ReactionReference.from_clips(list(self.real.values())) if self.real else None
        self.generated: dict[int, dict[int, Any]] = {}
        self.seconds = time.perf_counter() - t0

    @classmethod
    def for_set(cls, bench: "Bench", s: EvalSet) -> "ReactionBench | None":
        """For the test set of a release with original pairs; None for other sets and older releases."""
        from vimo.release import read_manifest
        from vimo.release.measures import is_two_person

        if s.name != "test" or not (bench.release.root / "manifest.csv").is_file():
            return None
        by_pair = {(r["video_path"], r["motion_path"]): r for r in read_manifest(bench.release.root)
                   if is_two_person(r)}
        rows = {i: by_pair[p] for i, p in enumerate(s.pairs) if p in by_pair}
        return cls(bench, s, rows) if rows else None

    def _camera(self, i: int):
        cam = self.camera[i]
        if cam is None or self.crops[i].start == 0:
            return cam
        from vimo.metrics.reaction import CameraTrack

        skip = int(round(self.crops[i].start / self.fps * cam.fps))
        return CameraTrack(cam.camera_to_world[skip:], cam.fps, cam.width, cam.height, cam.yfov_rad)

    def add(self, replication: int, batch: list[Crop], generated: np.ndarray) -> None:
        """One batch of a replication: (B, L, 263) RVQ-normalised generations of the batch's crops."""
        from vimo.metrics.reaction import clip_measures

        t0 = time.perf_counter()
        bench = self.bench
        for k, c in enumerate(batch):
            if c.index not in self.rows:
                continue
            features = generated[k, :c.length] * bench.rvq_std + bench.rvq_mean
            joints = recover_from_ric(features)
            self.generated.setdefault(replication, {})[c.index] = clip_measures(
                joints, self.actor[c.index][c.start:c.start + c.length], self.fps, camera=self._camera(c.index),
                voxel=BENCH_VOXEL)
        self.seconds += time.perf_counter() - t0

    def result(self) -> dict[str, Any]:
        """{"pairs", "real": summary, "generated": name -> Replicated dict, "per_pair": real and first-replication
        generated measures per test pair (for rank correlations with human ratings)}."""
        from vimo.metrics.reaction import summarise

        t0 = time.perf_counter()
        real = summarise(list(self.real.values()))
        per_rep = [summarise(list(clips.values()), self.reference) for _, clips in sorted(self.generated.items())]
        generated = {}
        for key in per_rep[0] if per_rep else []:
            values = [r[key] for r in per_rep if r.get(key) is not None]
            if values:
                generated[key] = M.Replicated(values).as_dict()
        first = self.generated.get(min(self.generated, default=0), {})
        per_pair = {self.rows[i]["pair_id"]: {"frames": self.crops[i].length, "start": self.crops[i].start,
                                              "real": self.real[i].as_dict(),
                                              "generated": first[i].as_dict() if i in first else None}
                    for i in sorted(self.real)}
        self.seconds += time.perf_counter() - t0
        return {"pairs": len(self.rows), "fps": self.fps, "voxel_m": BENCH_VOXEL, "real": real,
                "generated": generated, "per_pair": per_pair, "seconds": self.seconds}


# --- samples for human evaluation ----------------------------------------------------------------------------

GROUND_TRUTH = "ground_truth"


@dataclass
class ReactionSample:
    """One reaction to show raters: a variant's generation (or the ground truth) for one test pair."""

    pair: tuple[str, str]
    """(video relpath, motion relpath) of the test pair"""
    video_path: Path
    """the input video file"""
    variant: str
    """variant name, or `ground_truth`"""
    joints: np.ndarray
    """(T, 22, 3) float32, metres, Y up"""


def sample_pairs(n_test: int, count: int, seed: int) -> list[int]:
    """`count` distinct test-pair indices drawn with `seed` (all pairs, sorted, when count >= n_test)."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_test, size=min(count, n_test), replace=False))


@torch.no_grad()
def human_eval_samples(cfg: BenchConfig, pairs: int = 8, seed: int = EVAL_SEED) -> list[ReactionSample]:
    """Reactions of every variant of cfg (trained/loaded as `run_bench` does) and the ground truth for a
    seeded sample of test pairs; each generation has its pair's length (a multiple of 4, at most the preset's
    max_motion_length: a longer motion is shown as its first max_motion_length frames, as in evaluation)."""
    variants = bench_variants(cfg)
    bench = Bench(cfg)
    base = Path(cfg.checkpoints) if cfg.checkpoints is not None else bench.out / "checkpoints"
    chosen = [bench.test_pairs[i] for i in sample_pairs(len(bench.test_pairs), pairs, seed)]
    unit = bench.p.unit_length
    lengths = np.array([min(bench.motions[m].shape[0], bench.p.max_motion_length) // unit * unit for _, m in chosen])
    if (lengths < unit).any():
        raise InputFormatError(f"a sampled test motion is shorter than {unit} frames",
                               path=bench.release.root / "test.txt", fix="benchmark a release with longer motions")
    out = [ReactionSample(p, bench.release.path(p[0]), GROUND_TRUTH,
                          recover_from_ric(bench.motions[p[1]][:n]).astype(np.float32))
           for p, n in zip(chosen, lengths)]
    video = torch.from_numpy(np.stack([bench.features[v] for v, _ in chosen])).to(bench.device)
    for vp in variants:
        hero = load_variant(variant_runs(base, vp, bench.p), vp, cfg.device)
        torch.manual_seed(seed)
        normed = bench.generate(hero, video, lengths)
        for k, (p, n) in enumerate(zip(chosen, lengths)):
            features = normed[k, :n] * hero.std + hero.mean
            out.append(ReactionSample(p, bench.release.path(p[0]), vp.variant,
                                      recover_from_ric(features).astype(np.float32)))
    return out
