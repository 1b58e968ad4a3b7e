"""vimo.pipelines.body: safe model loading (no chumpy), joints-only FK against smplx, bad files."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from vimo.pipelines.samples.body_models import (
    build_body_model, chumpy_pickle_bytes, fake_chumpy, model_file_path, write_body_model,
)
from vimo.errors import InputFormatError
from vimo.motion.skeleton import PARENTS
from vimo.pipelines.body import (
    BodyModelError, BodyModelMissingError, UnsafePickleError, axis_angle_to_matrix, body_joints,
    build_smplx_module, forward_joints, load_body_model, read_model_pickle, resolve_model_file, rest_joints,
    smplx_forward,
)

smplx = pytest.importorskip("smplx", reason="smplx is part of the 'render' extra")
torch = pytest.importorskip("torch")

TYPES = ("smpl", "smplh", "smplx")
GENDER = {"smpl": "neutral", "smplh": "male", "smplx": "female"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """One folder per format, laid out as smplx.create expects (smplx/SMPLX_FEMALE.npz, ...)."""
    root = tmp_path_factory.mktemp("body_models")
    for model_type in TYPES:
        for fmt in ("npz", "pkl"):
            write_body_model(root / fmt, model_type, GENDER[model_type], fmt=fmt)
    return root


def random_params(model_type: str, frames: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {
        "betas": rng.normal(0.0, 1.5, 10),
        "global_orient": rng.uniform(-np.pi, np.pi, (frames, 3)),
        "body_pose": rng.normal(0.0, 0.6, (frames, 69 if model_type == "smpl" else 63)),
        "transl": rng.normal(0.0, 2.0, (frames, 3)),
    }
    params["body_pose"][:3] = 0.0  # include exact zero rotations
    if model_type != "smpl":
        params["left_hand_pose"] = rng.normal(0.0, 0.4, (frames, 45))
        params["right_hand_pose"] = rng.normal(0.0, 0.4, (frames, 45))
    if model_type == "smplx":
        params["expression"] = rng.normal(0.0, 1.5, 10)
        params["jaw_pose"] = rng.normal(0.0, 0.2, (frames, 3))
    return params


def keypoints(model_type: str) -> dict[str, int]:
    return build_body_model(model_type, GENDER[model_type]).keypoint_vertex_ids


# ----------------------------------------------------------------------------- the synthetic files

@pytest.mark.parametrize("model_type", TYPES)
def test_synthetic_npz_loads_in_smplx_with_real_joint_counts(models_dir, model_type):
    path = model_file_path(models_dir / "npz", model_type, GENDER[model_type])
    n_joints = {"smpl": 24, "smplh": 52, "smplx": 55}[model_type]
    with contextlib.redirect_stdout(io.StringIO()):
        if model_type == "smpl":  # smplx always pickle.loads SMPL paths; an npz goes in as data_struct
            module = smplx.SMPL(str(path), data_struct=smplx.utils.Struct(**np.load(path)),
                                vertex_ids=keypoints(model_type))
        else:
            module = smplx.create(str(models_dir / "npz"), model_type=model_type, gender=GENDER[model_type],
                                  ext="npz", use_pca=False, **({"vertex_ids": keypoints(model_type)}
                                                               if model_type == "smplh" else {}))
    assert module.J_regressor.shape == (n_joints, module.v_template.shape[0])
    assert module.parents.tolist()[:22] == PARENTS.tolist()
    if model_type == "smplx":  # smplx hard-codes its SMPL-X keypoint ids; swap in the tiny mesh's
        module.vertex_joint_selector = smplx.vertex_joint_selector.VertexJointSelector(
            vertex_ids=keypoints(model_type))
    with torch.no_grad():
        out = module()
    extra = 21 + (51 if model_type == "smplx" else 0)
    assert out.joints.shape == (1, n_joints + extra, 3)
    assert 300 <= out.vertices.shape[1] <= 1000


def test_rest_skeleton_is_human_sized_and_faces_plus_z(models_dir):
    model = load_body_model(models_dir / "npz", "smplx", "female")
    joints = forward_joints(model, rest_joints(model), np.zeros((1, 3)), np.zeros((1, 63)))[0]
    height = joints[15, 1] - min(joints[10, 1], joints[11, 1])
    assert 1.3 < height < 1.8
    assert joints[1, 0] > 0 > joints[2, 0]  # the body's left on +X
    assert joints[10, 2] > joints[7, 2]  # toes point forward (+Z)
    assert np.linalg.norm(joints[20] - joints[21]) > 1.2  # T pose arm span


def test_chumpy_pickle_names_official_globals_and_chumpy_stays_uninstalled(models_dir):
    raw = model_file_path(models_dir / "pkl", "smpl", "neutral", "pkl").read_bytes()
    assert b"cchumpy.ch\nCh\n" in raw
    assert b"cscipy.sparse.csc\ncsc_matrix\n" in raw
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert importlib.util.find_spec("chumpy") is None
    with pytest.raises(ModuleNotFoundError, match="chumpy"):  # what smplx alone does with such a file
        with contextlib.redirect_stdout(io.StringIO()):
            smplx.create(str(models_dir / "pkl"), model_type="smpl", gender="neutral")


# ----------------------------------------------------------------------------- loading

@pytest.mark.parametrize("model_type", TYPES)
def test_pickle_with_chumpy_objects_reads_like_the_npz(models_dir, model_type):
    gender = GENDER[model_type]
    from_npz = load_body_model(models_dir / "npz", model_type, gender)
    from_pkl = load_body_model(models_dir / "pkl", model_type, gender)
    assert from_pkl.source.suffix == ".pkl" and from_npz.source.suffix == ".npz"
    assert sorted(from_pkl.arrays) == sorted(from_npz.arrays)
    for key, value in from_npz.arrays.items():
        np.testing.assert_array_equal(from_pkl.arrays[key], value, err_msg=key)
    assert from_pkl.arrays["J_regressor"].shape == (from_pkl.num_joints, from_pkl.num_vertices)


@pytest.mark.parametrize("protocol,legacy", [(0, True), (1, True), (2, False), (4, False), (5, False)])
def test_pickles_from_other_protocols_and_numpy_versions_read(tmp_path, protocol, legacy):
    arrays = build_body_model("smpl").arrays
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(chumpy_pickle_bytes(arrays, protocol=protocol, legacy_names=legacy))
    data = read_model_pickle(path)
    np.testing.assert_array_equal(data["shapedirs"], arrays["shapedirs"])
    np.testing.assert_array_equal(data["J_regressor"], arrays["J_regressor"])
    assert data["bs_style"] == "lbs"


def test_sparse_csr_and_coo_are_densified(tmp_path):
    import scipy.sparse

    dense = np.random.default_rng(0).normal(size=(5, 7)) * (np.random.default_rng(1).random((5, 7)) < 0.4)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a": scipy.sparse.csr_matrix(dense), "b": scipy.sparse.coo_matrix(dense)},
                                  protocol=4))
    data = read_model_pickle(path)
    np.testing.assert_array_equal(data["a"], dense)
    np.testing.assert_array_equal(data["b"], dense)


def test_cache_is_keyed_by_checksum_and_written_only_where_asked(models_dir, tmp_path, monkeypatch):
    folder = tmp_path / "licensed"
    source = write_body_model(folder, "smplh", "male", fmt="pkl")
    before = sorted(p.name for p in source.parent.iterdir())
    cache = tmp_path / "cache"
    first = load_body_model(folder, "smplh", "male", cache_dir=cache)
    assert sorted(p.name for p in source.parent.iterdir()) == before  # nothing beside the user's file
    entries = list(cache.iterdir())
    assert len(entries) == 1 and first.sha256[:20] in entries[0].name and first.clean_npz == entries[0]
    assert np.load(entries[0], allow_pickle=False)["J_regressor"].shape == (52, first.num_vertices)

    import vimo.pipelines.body as body

    def no_unpickling(path):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(body, "read_model_pickle", no_unpickling)
    again = load_body_model(folder, "smplh", "male", cache_dir=cache)
    np.testing.assert_array_equal(again.arrays["shapedirs"], first.arrays["shapedirs"])
    monkeypatch.undo()

    write_body_model(folder, "smplh", "male", fmt="pkl", seed=7)  # a different file at the same path
    changed = load_body_model(folder, "smplh", "male", cache_dir=cache)
    assert changed.sha256 != first.sha256 and len(list(cache.iterdir())) == 2
    assert not np.array_equal(changed.arrays["shapedirs"], first.arrays["shapedirs"])
    assert load_body_model(folder, "smplh", "male").clean_npz is None  # no cache_dir: nothing written
    assert len(list(cache.iterdir())) == 2


def test_npz_is_preferred_and_folder_layouts_resolve(tmp_path):
    write_body_model(tmp_path, "smplx", "male", fmt="pkl")
    assert resolve_model_file(tmp_path, "smplx", "male").suffix == ".pkl"
    npz = write_body_model(tmp_path, "smplx", "male", fmt="npz")
    assert resolve_model_file(tmp_path, "smplx", "male") == npz
    assert resolve_model_file(tmp_path / "smplx", "smplx", "male") == npz  # the type folder itself
    assert resolve_model_file(npz, "smplx", "male") == npz  # a file path
    assert load_body_model(npz, "SMPL-X", "MALE").clean_npz == npz


def test_amass_style_smplh_npz_without_hand_pca_loads(tmp_path):
    arrays = build_body_model("smplh", n_betas=16).arrays
    for key in ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"):
        del arrays[key]
    path = tmp_path / "SMPLH_MALE.npz"
    np.savez(path, **arrays)
    model = load_body_model(path, "smplh", "male")
    np.testing.assert_array_equal(model.arrays["hands_componentsl"], np.eye(45))
    assert model.shape_dims == 16 and model.clean_npz is None


def test_official_npz_object_arrays_are_skipped_not_unpickled(tmp_path):
    arrays = build_body_model("smplx").arrays
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **arrays, joint2num=np.array({"pelvis": 0}, dtype=object))
    model = load_body_model(path, "smplx")
    assert "joint2num" not in model.arrays and model.clean_npz is None


# ----------------------------------------------------------------------------- refusing unsafe pickles

class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evaluator:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_pickle_with_a_foreign_global_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "hook": _Exploit(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        load_body_model(path, "smpl")
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "system" in message
    assert isinstance(err.value, InputFormatError)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    lambda: {"hook": _Evaluator()},
    lambda: {"load": np.load},
    lambda: {"cls": Path("x")},
])
def test_other_globals_are_refused(tmp_path, payload):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(payload(), protocol=4))
    with pytest.raises(UnsafePickleError, match="refusing"):
        read_model_pickle(path)


def test_chumpy_expression_without_value_is_a_typed_error(tmp_path):
    with fake_chumpy() as Ch:
        ch = Ch()
        ch.__dict__.update({"a": np.ones(3)})
        raw = pickle.dumps({"v_template": ch}, protocol=2)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(raw)
    with pytest.raises(BodyModelError, match="v_template.*chumpy expression"):
        read_model_pickle(path)


# ----------------------------------------------------------------------------- missing and bad files

def test_missing_model_names_the_expected_path_and_the_download_page(tmp_path):
    with pytest.raises(BodyModelMissingError) as err:
        load_body_model(tmp_path, "smplx", "male")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "smplx" / "SMPLX_MALE") in message
    assert "smpl-x.is.tue.mpg.de" in message and "never ships" in message
    with pytest.raises(BodyModelMissingError, match="mano.is.tue.mpg.de"):
        load_body_model(tmp_path / "nowhere" / "SMPLH_MALE.pkl", "smplh", "male")
    with pytest.raises(BodyModelMissingError, match="smpl.is.tue.mpg.de"):
        load_body_model(tmp_path, "smpl")


def _bad_case(tmp_path: Path, case: str) -> tuple[Path, str, str]:
    arrays = build_body_model("smplx").arrays
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    if case == "truncated npz":
        np.savez(path, **arrays)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
        return path, "smplx", "truncated"
    if case == "truncated pkl":
        path = tmp_path / "SMPLX_NEUTRAL.pkl"
        path.write_bytes(chumpy_pickle_bytes(arrays)[:5000])
        return path, "smplx", "truncated"
    if case == "not a dict":
        path = tmp_path / "SMPLX_NEUTRAL.pkl"
        path.write_bytes(pickle.dumps([np.zeros(3)]))
        return path, "smplx", "not a dict"
    if case == "missing key":
        del arrays["posedirs"]
    elif case == "wrong type":
        np.savez(path, **arrays)
        return path, "smpl", "J_regressor"
    elif case == "wrong posedirs":
        arrays["posedirs"] = arrays["posedirs"][:, :, :207]
    elif case == "nan":
        arrays["v_template"][3, 1] = np.nan
    elif case == "too few shape components":
        arrays["shapedirs"] = arrays["shapedirs"][:, :, :12]
    elif case == "wrong tree":
        arrays["kintree_table"][0, 5] = 1
    elif case == "wrong suffix":
        path = tmp_path / "SMPLX_NEUTRAL.json"
        path.write_text("{}")
        return path, "smplx", "not a body model file"
    np.savez(path, **arrays)
    expected = {"missing key": "posedirs", "wrong posedirs": "posedirs", "nan": "NaN",
                "too few shape components": "20", "wrong tree": "kinematic tree"}[case]
    return path, "smplx", expected


@pytest.mark.parametrize("case", ["truncated npz", "truncated pkl", "not a dict", "missing key", "wrong type",
                                  "wrong posedirs", "nan", "too few shape components", "wrong tree",
                                  "wrong suffix"])
def test_bad_model_files_give_one_line_typed_errors(tmp_path, case):
    path, model_type, expected = _bad_case(tmp_path, case)
    with pytest.raises(BodyModelError) as err:
        load_body_model(path, model_type)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and expected in message
    assert "fix:" in message


@pytest.mark.parametrize("kind", [("smplxx", "male"), ("smplx", "other")])
def test_unknown_type_or_gender(tmp_path, kind):
    with pytest.raises(BodyModelError, match="unknown"):
        load_body_model(tmp_path, *kind)


# ----------------------------------------------------------------------------- joints-only FK vs smplx

@pytest.mark.parametrize("fmt", ["npz", "pkl"])
@pytest.mark.parametrize("model_type", TYPES)
def test_forward_joints_match_smplx_full_forward(models_dir, model_type, fmt):
    gender = GENDER[model_type]
    model = load_body_model(models_dir / fmt, model_type, gender)
    p = random_params(model_type, frames=70, seed=hash((model_type, fmt)) % 1000)
    rest = rest_joints(model, p["betas"], p.get("expression"))
    ours = forward_joints(model, rest, p["global_orient"], p["body_pose"], p["transl"])
    assert ours.shape == (70, 22, 3) and ours.dtype == np.float64
    extra = {k: p[k] for k in ("left_hand_pose", "right_hand_pose", "jaw_pose", "expression") if k in p}
    for double, tol in ((False, 1e-5), (True, 1e-6)):
        full = smplx_forward(model, p["betas"], p["global_orient"], p["body_pose"], p["transl"], double=double,
                             batch_size=32, keypoint_vertex_ids=keypoints(model_type), **extra)
        assert np.abs(full.joints[:, :22] - ours).max() <= tol
    assert np.ptp(ours[:, 0], axis=0).min() > 1.0  # the random translations did move the body


def test_betas_and_expression_move_the_rest_joints(models_dir):
    model = load_body_model(models_dir / "npz", "smplx", "female")
    base = rest_joints(model)
    np.testing.assert_allclose(base, model.arrays["J_regressor"] @ model.arrays["v_template"])
    tall = rest_joints(model, np.r_[2.0, np.zeros(9)])
    assert tall[15, 1] - tall[10, 1] > 1.05 * (base[15, 1] - base[10, 1])
    expr = np.zeros(10)
    expr[0] = 2.0
    assert np.abs(rest_joints(model, None, expr) - base)[[15, 22]].max() > 1e-3
    with pytest.raises(BodyModelError, match="at most 10"):
        rest_joints(model, np.zeros(11))
    smpl = load_body_model(models_dir / "npz", "smpl")
    with pytest.raises(BodyModelError, match="no expression space"):
        rest_joints(smpl, None, np.zeros(10))


def test_sixteen_betas_of_amass_smplh_are_all_used(tmp_path):
    write_body_model(tmp_path, "smplh", "male", n_betas=16)
    model = load_body_model(tmp_path, "smplh", "male")
    betas = np.random.default_rng(3).normal(size=16)
    arrays = model.arrays
    expected = arrays["J_regressor"] @ (arrays["v_template"] + arrays["shapedirs"] @ betas)
    np.testing.assert_allclose(rest_joints(model, betas[None]), expected, atol=1e-12)
    assert np.abs(rest_joints(model, betas) - rest_joints(model, betas[:10])).max() > 1e-3


def test_pose_blend_shapes_change_vertices_but_not_joints(tmp_path):
    kp = keypoints("smplx")
    arrays = build_body_model("smplx", "female").arrays
    zero = dict(arrays, posedirs=np.zeros_like(arrays["posedirs"]))
    for name, data in (("random", arrays), ("zero", zero)):
        np.savez(tmp_path / f"{name}.npz", **data)
    p = random_params("smplx", frames=20, seed=5)
    outs = {}
    for name in ("random", "zero"):
        model = load_body_model(tmp_path / f"{name}.npz", "smplx", "female")
        outs[name] = smplx_forward(model, p["betas"], p["global_orient"], p["body_pose"], p["transl"],
                                   expression=p["expression"], double=True, keypoint_vertex_ids=kp)
    assert np.abs(outs["random"].vertices - outs["zero"].vertices).max() > 1e-3
    np.testing.assert_allclose(outs["random"].joints[:, :55], outs["zero"].joints[:, :55], atol=1e-12, rtol=0)


def test_body_joints_and_smpl_69_vs_63_body_pose(models_dir):
    model = load_body_model(models_dir / "npz", "smpl")
    p = random_params("smpl", frames=10, seed=2)
    a = body_joints(model, p["betas"], p["global_orient"], p["body_pose"], p["transl"])
    b = body_joints(model, p["betas"], p["global_orient"], p["body_pose"][:, :63], p["transl"])
    np.testing.assert_array_equal(a, b)  # joints 22, 23 (hands) do not move the 22 body joints
    no_transl = body_joints(model, p["betas"], p["global_orient"], p["body_pose"])
    np.testing.assert_allclose(a - no_transl, np.broadcast_to(p["transl"][:, None], a.shape), atol=1e-12)


def test_axis_angle_to_matrix_matches_scipy():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    aa = np.concatenate([rng.normal(0, 1.5, (200, 3)), rng.normal(0, 1e-9, (5, 3)), np.zeros((1, 3))])
    np.testing.assert_allclose(axis_angle_to_matrix(aa), Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    assert axis_angle_to_matrix(aa.reshape(2, 103, 3)).shape == (2, 103, 3, 3)


@pytest.mark.parametrize("bad", ["nan", "pose shape", "orient shape", "frame count", "transl shape"])
def test_forward_joints_rejects_bad_input(models_dir, bad):
    model = load_body_model(models_dir / "npz", "smplh", "male")
    go, bp, tr = np.zeros((4, 3)), np.zeros((4, 63)), np.zeros((4, 3))
    if bad == "nan":
        bp[2, 5] = np.nan
    elif bad == "pose shape":
        bp = np.zeros((4, 60))
    elif bad == "orient shape":
        go = np.zeros((4, 4))
    elif bad == "frame count":
        bp = np.zeros((5, 63))
    else:
        tr = np.zeros((4, 2))
    with pytest.raises(BodyModelError) as err:
        forward_joints(model, rest_joints(model), go, bp, tr)
    assert "\n" not in str(err.value) and "fix:" in str(err.value)


def test_smplx_run_on_a_tiny_mesh_needs_keypoint_ids(models_dir):
    model = load_body_model(models_dir / "npz", "smplx", "female")
    with pytest.raises(BodyModelError, match="keypoint_vertex_ids"):
        build_smplx_module(model, batch_size=2)


def test_smplx_forward_rejects_wrong_hand_width(models_dir):
    model = load_body_model(models_dir / "npz", "smplh", "male")
    with pytest.raises(BodyModelError, match="left_hand_pose has 6 numbers"):
        smplx_forward(model, None, np.zeros((3, 3)), np.zeros((3, 63)), left_hand_pose=np.zeros((3, 6)),
                      keypoint_vertex_ids=keypoints("smplh"))
