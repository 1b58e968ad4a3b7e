"""The layers hold: the core (`vimo/` outside `vimo/cli/` and `vimo/flows/`) imports no wing, and the wings
(`pipelines`, `annotation`, `models`) import the core and never each other, nor the CLI or the flows.

Every `import` statement of every module is read (top-level and inside functions alike: a lazy import is still
an edge); a planted forbidden import is caught (last test)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> installed package (setup.py's package-dir mapping)
PACKAGES = {"vimo": "vimo", "pipelines": "vimo.pipelines", "annotation": "vimo.annotation", "models": "vimo.models"}
WINGS = ("pipelines", "annotation", "models")
#: the layers above the wings, which may import anything of vimo
WIRING = ("cli", "flows")


def layer_of(module: str) -> str | None:
    """`core`, a wing's name, `cli` or `flows` for a module of vimo; None for anything else."""
    parts = module.split(".")
    if parts[0] != "vimo":
        return None
    if len(parts) == 1:
        return "core"
    if parts[1] in WINGS or parts[1] in WIRING:
        return parts[1]
    if parts[1] == "__main__":  # `python -m vimo`: the CLI's entry point
        return "cli"
    return "core"


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGES[parts[0]], *parts[1:]])


def imported_modules(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement of a file, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            # `from vimo import models` names a subpackage
            out += [(f"{target}.{alias.name}", node.lineno) for alias in node.names
                    if layer_of(f"{target}.{alias.name}") not in (None, layer_of(target))]
    return out


def forbidden_edges(root: Path) -> list[str]:
    """Every import that crosses a layer the wrong way, as 'file:line: from-layer -> to-module (to-layer)'."""
    bad = []
    for folder in PACKAGES:
        for path in sorted((root / folder).rglob("*.py")):
            module = module_name(root, path)
            source = layer_of(module)
            for target, line in imported_modules(path, module):
                dest = layer_of(target)
                if dest is None or dest == source or source in WIRING:
                    continue
                allowed = {"core": {"core"}}.get(source, {"core"})  # a wing may import only the core
                if dest not in allowed:
                    bad.append(f"{path.relative_to(root)}:{line}: {source} -> {target} ({dest})")
    return bad


def test_no_module_imports_across_the_layers():
    bad = forbidden_edges(ROOT)
    assert not bad, "forbidden imports (the core imports no wing; wings import only the core):\n" + "\n".join(bad)


def test_the_rule_catches_a_planted_import(tmp_path):
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "vimo" / "cli").mkdir()
    (tmp_path / "vimo" / "cli" / "bench.py").write_text("from vimo.models import bench\n")  # allowed
    (tmp_path / "vimo" / "helper.py").write_text("import os\n\ndef f():\n    from vimo.models.bench import run\n")
    (tmp_path / "models" / "bench.py").write_text("from ..pipelines import convert\nfrom vimo import motion\n")
    (tmp_path / "annotation" / "rounds.py").write_text("from vimo import models\n")
    bad = forbidden_edges(tmp_path)
    assert sorted(bad) == sorted(["vimo/helper.py:4: core -> vimo.models.bench (models)",
                                  "annotation/rounds.py:1: annotation -> vimo.models (models)",
                                  "models/bench.py:1: models -> vimo.pipelines (pipelines)"])
