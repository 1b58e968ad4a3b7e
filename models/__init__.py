"""vimo.models: the reference HERO (video encoders, RVQ-VAE, masked and residual transformers) and its trainer.

Faithful to the official HERO / MoMask implementations by default, so that official checkpoints load
strictly and training reproduces the official recipe (quirks included); every deviation is a flag.
"""
