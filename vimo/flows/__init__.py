"""Orchestration that spans the wings: the demo (every wing), human evaluation of benchmark samples (models,
annotation, pipelines' renderer) and generating + rendering a reaction (models, pipelines).

Like `vimo.cli`, this package sits above the wings and may import them; the core and the wings never import it
(tests/test_layers.py enforces the rule). The CLI parses, calls one function of here or of a wing, and prints.
"""
