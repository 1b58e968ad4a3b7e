"""vimo.annotation: Label Studio rounds (screening, rating, pairing, inspection) and agreement."""
