"""Official checkpoint key names and shapes at the `hero` sizes, written out from the spec's tables
(shared/specs/hero_model.md §5), independently of our model code."""
from __future__ import annotations


def rvq_keys() -> dict[str, tuple[int, ...]]:
    """§5.1: MoMask / HERO RVQ-VAE `vq_model` (72 tensors, 19.44 M params)."""
    k: dict[str, tuple[int, ...]] = {}
    conv = lambda name, o, i, w: k.update({f"{name}.weight": (o, i, w), f"{name}.bias": (o,)})  # noqa: E731

    def resnet(prefix: str) -> None:
        for b in range(3):
            conv(f"{prefix}.model.{b}.conv1", 512, 512, 3)
            conv(f"{prefix}.model.{b}.conv2", 512, 512, 1)

    conv("encoder.model.0", 512, 263, 3)
    for s in (2, 3):
        conv(f"encoder.model.{s}.0", 512, 512, 4)
        resnet(f"encoder.model.{s}.1")
    conv("encoder.model.4", 512, 512, 3)
    conv("decoder.model.0", 512, 512, 3)
    for s in (2, 3):
        resnet(f"decoder.model.{s}.0")
        conv(f"decoder.model.{s}.2", 512, 512, 3)
    conv("decoder.model.4", 512, 512, 3)
    conv("decoder.model.6", 263, 512, 3)
    for q in range(6):
        k[f"quantizer.layers.{q}.codebook"] = (512, 512)
    return k


def _decoder_layers(k: dict, n_layers: int = 6) -> None:
    for i in range(n_layers):
        p = f"seqTransDecoder.layers.{i}"
        for att in ("self_attn", "multihead_attn"):
            k[f"{p}.{att}.in_proj_weight"] = (1152, 384)
            k[f"{p}.{att}.in_proj_bias"] = (1152,)
            k[f"{p}.{att}.out_proj.weight"] = (384, 384)
            k[f"{p}.{att}.out_proj.bias"] = (384,)
        k[f"{p}.linear1.weight"] = (1024, 384)
        k[f"{p}.linear1.bias"] = (1024,)
        k[f"{p}.linear2.weight"] = (384, 1024)
        k[f"{p}.linear2.bias"] = (384,)
        for n in (1, 2, 3):
            k[f"{p}.norm{n}.weight"] = (384,)
            k[f"{p}.norm{n}.bias"] = (384,)


def _common_transformer(k: dict) -> None:
    k["input_process.poseEmbedding.weight"] = (384, 512)
    k["input_process.poseEmbedding.bias"] = (384,)
    k["position_enc.pe"] = (5000, 1, 384)
    g = "global_local_crossatt_block"
    for ln in ("ln1", "ln2", "ln3"):
        k[f"{g}.{ln}.weight"] = (512,)
        k[f"{g}.{ln}.bias"] = (512,)
    for lin in ("query", "key", "value", "proj"):
        k[f"{g}.attn.{lin}.weight"] = (512, 512)
        k[f"{g}.attn.{lin}.bias"] = (512,)
    k[f"{g}.mlp.0.weight"] = (2048, 512)
    k[f"{g}.mlp.0.bias"] = (2048,)
    k[f"{g}.mlp.2.weight"] = (512, 2048)
    k[f"{g}.mlp.2.bias"] = (512,)
    _decoder_layers(k)
    k["cond_emb.weight"] = (384, 512)
    k["cond_emb.bias"] = (384,)
    k["output_process.dense.weight"] = (384, 384)
    k["output_process.dense.bias"] = (384,)
    k["output_process.LayerNorm.weight"] = (384,)
    k["output_process.LayerNorm.bias"] = (384,)
    k["output_process.poseFinal.weight"] = (512, 384)
    k["output_process.poseFinal.bias"] = (512,)


def mask_transformer_keys() -> dict[str, tuple[int, ...]]:
    """§5.3: HERO masked transformer `t2m_transformer` (15.99 M params with 6 layers)."""
    k: dict[str, tuple[int, ...]] = {"token_emb.weight": (514, 512)}
    _common_transformer(k)
    return k


def res_transformer_keys() -> dict[str, tuple[int, ...]]:
    """§5.4: HERO residual transformer `res_transformer` (18.36 M params)."""
    k: dict[str, tuple[int, ...]] = {}
    _common_transformer(k)
    k["quant_emb.weight"] = (384, 6)
    k["quant_emb.bias"] = (384,)
    k["token_embed_weight"] = (5, 513, 512)
    k["output_proj_weight"] = (5, 513, 512)
    k["output_proj_bias"] = (6, 513)
    return k


def tc_clip_keys(prefix: str = "image_encoder.") -> dict[str, tuple[int, ...]]:
    """§5.5: TC-CLIP ViT-B/16 vision tower (86.19 M params)."""
    k: dict[str, tuple[int, ...]] = {
        "class_embedding": (768,), "positional_embedding": (197, 768), "proj": (768, 512),
        "conv1.weight": (768, 3, 16, 16), "ln_pre.weight": (768,), "ln_pre.bias": (768,),
        "ln_post.weight": (768,), "ln_post.bias": (768,)}
    for b in range(12):
        p = f"transformer.resblocks.{b}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            k[f"{p}.attn.{proj}.weight"] = (768, 768)
            k[f"{p}.attn.{proj}.bias"] = (768,)
        if b >= 1:
            k[f"{p}.attn.local_global_bias_table"] = (12, 1, 2)
        for ln in ("ln_1", "ln_2"):
            k[f"{p}.{ln}.weight"] = (768,)
            k[f"{p}.{ln}.bias"] = (768,)
        k[f"{p}.mlp.c_fc.weight"] = (3072, 768)
        k[f"{p}.mlp.c_fc.bias"] = (3072,)
        k[f"{p}.mlp.c_proj.weight"] = (768, 3072)
        k[f"{p}.mlp.c_proj.bias"] = (768,)
    return {prefix + name: shape for name, shape in k.items()}


def n_params(keys: dict[str, tuple[int, ...]], *, skip_buffers: tuple[str, ...] = ()) -> int:
    total = 0
    for name, shape in keys.items():
        if any(name.endswith(b) for b in skip_buffers):
            continue
        n = 1
        for s in shape:
            n *= s
        total += n
    return total
