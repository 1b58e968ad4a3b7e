"""vimo.models: the reference HERO model (video encoder, RVQ-VAE, transformers), trainer and evaluator."""
