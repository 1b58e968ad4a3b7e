"""Measures of the data and of generated motions that need no trained evaluator (core, numpy only).

`vimo.metrics.reaction`: how a reaction fits the person it reacts to: penetration, contact / proximity,
timing and viewpoint consistency of two persons in the reactor's canonical frame.
"""
