"""Releases: build (from a TOML recipe), verify, diff and list immutable, versioned, checksummed release folders
in the layout the official HERO loader reads (docs/release.md §1), and export them as plain HumanML3D.

    layout.py   the format: version, file names, readers of info / manifest / checksums (one owner)
    recipe.py   TOML recipes
    build.py    pair selection, licence gate, staged build renamed into place
    verify.py   verify (checksums, rules, the release digest), diff, list
    export.py   HumanML3D export
    measures.py reaction measures of the original pairs (joints/ + actor_joints/ + cameras/)
"""
from vimo.release.build import (BuildResult, ReleasePair, SplitPlan, build_release, input_checksums,
                                licence_gate, load_features, plan_splits, previous_splits, release_counts,
                                safe_name, select_pairs)
from vimo.release.export import export_humanml3d
from vimo.release.layout import (CHECKSUMS, FORMAT_VERSION, INFO, MANIFEST, MANIFEST_COLUMNS, LicenceError,
                                 ReleaseError, ReleaseExistsError, is_digest, read_checksums, read_info,
                                 read_manifest, release_digest, write_checksums)
from vimo.release.recipe import Recipe, ReleaseFilters, ReleaseSection, load_recipe, recipe_from_dict
from vimo.release.verify import (ExpectedDigest, Problem, ReleaseDiff, diff_releases, list_releases, recorded_digest,
                                 verify_release, workspace_of)

__all__ = [
    "BuildResult", "ReleasePair", "SplitPlan", "build_release", "input_checksums", "licence_gate", "load_features",
    "plan_splits", "previous_splits", "release_counts", "safe_name", "select_pairs", "export_humanml3d",
    "CHECKSUMS", "FORMAT_VERSION", "INFO", "MANIFEST", "MANIFEST_COLUMNS", "LicenceError", "ReleaseError",
    "ReleaseExistsError", "is_digest", "read_checksums", "read_info", "read_manifest", "release_digest",
    "write_checksums", "Recipe",
    "ReleaseFilters", "ReleaseSection", "load_recipe", "recipe_from_dict", "Problem", "ReleaseDiff",
    "diff_releases", "list_releases", "verify_release", "ExpectedDigest", "recorded_digest", "workspace_of",
]
