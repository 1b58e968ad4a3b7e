"""Every command follows the CLI conventions written in README.md ("CLI conventions"): the walk covers the whole
typer tree, so a new command that breaks one fails here."""
from __future__ import annotations

import typer

from vimo.cli import COMMANDS, build_app

#: commands whose output is data (a table, a summary, a report): they take --json
PRINT_RESULTS = {
    "info", "workspace status", "workspace show", "motion encode", "motion decode", "motion stats",
    "convert amass", "convert egohumans", "convert harmony4d", "convert interx", "convert joints", "clips list",
    "clips cut", "pairs assemble", "pairs list", "render", "restyle submit", "restyle status", "restyle fetch",
    "annotate round status", "annotate round pull", "annotate round close", "annotate instructions list", "train",
    "split", "release build", "release verify", "release list", "release diff", "bench run", "leaderboard",
    "videos add", "videos list", "videos library",
}
#: batch jobs over many units: they take --max-failures
BATCH = {"convert amass", "convert egohumans", "convert harmony4d", "convert interx", "convert joints", "render",
         "clips cut", "videos add"}
#: commands that take a model-size preset (hero | tiny)
MODEL_PRESET = {"train", "bench run", "generate"}


def _walk(command, path):
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, path + [name])
    else:
        yield " ".join(path), command


def _tree() -> dict:
    out = {}
    for name in COMMANDS:
        root = typer.main.get_command(build_app(name))
        out.update(dict(_walk(root.commands[name], [name])))
    return out


TREE = _tree()


def _options(command) -> dict[str, list[str]]:
    return {p.name: list(p.opts) + list(p.secondary_opts) for p in command.params
            if not type(p).__name__.endswith("Argument")}


def _arguments(command) -> list[str]:
    return [(p.metavar or p.name).lower().removeprefix("cfg_") for p in command.params
            if type(p).__name__.endswith("Argument")]


def test_the_walk_sees_every_command():
    assert {"init", "train", "bench run", "render", "clips cut", "restyle submit", "annotate round status",
            "release list", "export humanml3d", "demo"} <= set(TREE)
    assert len(TREE) > 40


def test_the_workspace_is_always_dash_w_and_the_output_folder_dash_o():
    for path, command in TREE.items():
        for opts in _options(command).values():
            if "--workspace" in opts:
                assert "-w" in opts, path
            if "--out" in opts:
                assert "-o" in opts, path
        arguments = _arguments(command)
        assert "out" not in arguments, path
        if path != "init":  # `vimo init DIR` creates the folder it names
            assert not {"workspace", "root"} & set(arguments), (path, arguments)


def test_a_release_is_positional_and_preset_means_a_model_size():
    for path, command in TREE.items():
        flags = [o for opts in _options(command).values() for o in opts]
        assert "--release" not in flags, path
        if "--preset" in flags:
            assert path in MODEL_PRESET, path
    for path in ("train", "bench run", "card", "release verify", "export humanml3d"):
        assert "release" in _arguments(TREE[path]), path


def test_one_flag_redoes_work_and_results_have_json():
    for path, command in TREE.items():
        flags = {o for opts in _options(command).values() for o in opts}
        assert not {"--overwrite", "--fresh", "--no-overwrite", "--no-fresh"} & flags, path
        if path in PRINT_RESULTS:
            assert "--json" in flags, path
        if path in BATCH:
            assert "--max-failures" in flags, path
