"""SMPL / SMPL-H / SMPL-X body models: safe loading, fast joints-only forward kinematics, smplx runs.

    model = load_body_model("~/body_models", "smplx", "male", cache_dir="~/.cache/vimo/body")
    rest = rest_joints(model, betas)                                   # once per person
    joints = forward_joints(model, rest, global_orient, body_pose, transl)   # (T, 22, 3)

Model files are licensed by the MPI (smpl.is.tue.mpg.de, mano.is.tue.mpg.de for SMPL-H,
smpl-x.is.tue.mpg.de); vimo never ships them. Folders follow `smplx.create`:
`DIR/smplx/SMPLX_NEUTRAL.npz`, `DIR/smplh/SMPLH_MALE.pkl`, `DIR/smpl/SMPL_FEMALE.pkl`, ...

Official .pkl files hold chumpy objects. chumpy does not install on this stack, so pickles are
read by an allow-list unpickler: numpy array reconstruction, scipy.sparse matrices (densified)
and chumpy classes (replaced by the array in their state); any other global is refused. A clean
.npz of what was read can be cached in a folder the caller names, keyed by the file's checksum.

Why joints-only FK is exact: smplx regresses the joints from the shaped *rest* vertices,
J = J_regressor @ (v_template + shapedirs @ betas), before pose blend shapes and skinning, so the
posed joints depend only on J and the kinematic chain. Loading and FK need numpy only; torch and
smplx are imported by `smplx_forward` / `build_smplx_module` alone (the 'render' extra).
"""
from __future__ import annotations

import contextlib
import io
import pickle
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from vimo.atomic import sha256_file, write_bytes
from vimo.errors import InputFormatError
from vimo.motion.skeleton import PARENTS as BODY_PARENTS
from vimo.pipelines.unpickle import AllowListUnpickler, RefusedGlobal, numpy_globals

if TYPE_CHECKING:  # pragma: no cover
    import torch

MODEL_TYPES = ("smpl", "smplh", "smplx")
GENDERS = ("neutral", "male", "female")

#: joints in the kinematic tree of each model type
NUM_JOINTS = {"smpl": 24, "smplh": 52, "smplx": 55}
#: the body joints that HumanML3D uses (SMPL order, shared by all three types)
NUM_BODY_JOINTS = 22

#: where each model type is downloaded (free registration, non-commercial licence)
DOWNLOAD_PAGES = {
    "smpl": "smpl.is.tue.mpg.de",
    "smplh": "mano.is.tue.mpg.de (Extended SMPL+H)",
    "smplx": "smpl-x.is.tue.mpg.de",
}

#: smplx reads at least these keys (docs/rendering.md §2)
REQUIRED_KEYS = {
    "smpl": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"),
    "smplh": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs",
              "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"),
    "smplx": ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs",
              "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
              "lmk_faces_idx", "lmk_bary_coords"),
}
#: further keys kept in the clean arrays when present
OPTIONAL_KEYS = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords", "J", "vt", "ft")


class BodyModelError(InputFormatError):
    """A body model file that is missing, unreadable, unsafe or not the model it claims to be."""


class BodyModelMissingError(BodyModelError):
    """The expected body model file does not exist (vimo never ships them)."""


class UnsafePickleError(BodyModelError):
    """A pickle that references a global outside the allow-list of body model files."""


# ----------------------------------------------------------------------------- file resolution

def model_file_candidates(folder: str | Path, model_type: str, gender: str) -> list[Path]:
    """Paths tried for a model folder, in order: `DIR/<type>/<TYPE>_<GENDER>.npz|.pkl`, then
    `DIR/<TYPE>_<GENDER>.npz|.pkl` (smplx.create's layout; .npz first: it needs no unpickling)."""
    model_type, gender = _check_kind(model_type, gender)
    folder = Path(folder).expanduser()
    stem = f"{model_type.upper()}_{gender.upper()}"
    return [folder / model_type / f"{stem}.npz", folder / model_type / f"{stem}.pkl",
            folder / f"{stem}.npz", folder / f"{stem}.pkl"]


def body_model_problems(folder: Path | None, model: str, genders, *, source: str) -> list[str]:
    """The preflight of a source that needs body models: one line per missing or unusable model file of
    `model` ('smplx', 'smplh', ...) for each gender, or that no folder was given at all."""
    if folder is None:
        return [f"no --body-models folder given ({source} needs {model.upper().replace('SMPL', 'SMPL-')} model files)"]
    problems = []
    for gender in genders:
        try:
            resolve_model_file(folder, model, gender)
        except BodyModelError as exc:
            problems.append(exc.one_line())
    return problems


def resolve_model_file(path_or_dir: str | Path, model_type: str, gender: str = "neutral") -> Path:
    """The model file for a file path or a model folder; BodyModelMissingError when absent."""
    model_type, gender = _check_kind(model_type, gender)
    path = Path(path_or_dir).expanduser()
    if path.is_file():
        if path.suffix not in (".npz", ".pkl"):
            raise BodyModelError(f"is not a body model file (.npz or .pkl expected, got '{path.suffix}')",
                                 path=path, fix="point at the SMPL-family .npz or .pkl file, or at its folder")
        return path
    if path.is_dir():
        for candidate in model_file_candidates(path, model_type, gender):
            if candidate.is_file():
                return candidate
        expected = model_file_candidates(path, model_type, gender)[0].with_suffix(".npz|.pkl")
    else:
        expected = path
    name = {"smpl": "SMPL", "smplh": "SMPL-H", "smplx": "SMPL-X"}[model_type]
    raise BodyModelMissingError(
        f"{name} {gender} model file not found",
        path=expected,
        fix=(f"download {name} from {DOWNLOAD_PAGES[model_type]} (licensed by the MPI; vimo never ships "
             f"body model files) and save it as {expected.name.replace('|', ' or ')} in {expected.parent}"),
    )


def _check_kind(model_type: str, gender: str) -> tuple[str, str]:
    mt, g = str(model_type).lower().replace("+", "").replace("-", ""), str(gender).lower()
    if mt not in MODEL_TYPES:
        raise BodyModelError(f"unknown body model type '{model_type}'", fix=f"use one of {', '.join(MODEL_TYPES)}")
    if g not in GENDERS:
        raise BodyModelError(f"unknown gender '{gender}'", fix=f"use one of {', '.join(GENDERS)}")
    return mt, g


# ----------------------------------------------------------------------------- restricted unpickler

class _StateStandIn:
    """Built by the unpickler in place of a foreign class: keeps the pickled state, runs nothing."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_StateStandIn":
        obj = object.__new__(cls)
        obj.state = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyStandIn(_StateStandIn):
    """Takes the place of any chumpy class while unpickling; its state holds the array in 'x'."""


class _SparseStandIn(_StateStandIn):
    """Takes the place of a scipy.sparse matrix class; densified after loading."""

    layout = ""


class _CscStandIn(_SparseStandIn):
    layout = "csc"


class _CsrStandIn(_SparseStandIn):
    layout = "csr"


class _CooStandIn(_SparseStandIn):
    layout = "coo"


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor limited to the stand-ins (protocol 0/1 pickles of new-style objects)."""
    if not (isinstance(cls, type) and issubclass(cls, (_ChumpyStandIn, _SparseStandIn)) and base is object):
        raise pickle.UnpicklingError(f"copyreg._reconstructor on {cls!r}")
    return cls.__new__(cls)


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """_codecs.encode as written by Python 3 for bytes at protocol 2; latin-1 text only."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


_SPARSE_CLASSES = {"csc_matrix": _CscStandIn, "csc_array": _CscStandIn, "csr_matrix": _CsrStandIn,
                   "csr_array": _CsrStandIn, "coo_matrix": _CooStandIn, "coo_array": _CooStandIn}
_BUILTINS = {"set": set, "frozenset": frozenset, "object": object}


#: globals a body model file may name, besides chumpy and scipy.sparse (which `_resolve_stand_in` maps)
_ALLOWED = {**numpy_globals(), ("copy_reg", "_reconstructor"): _reconstructor,
            ("copyreg", "_reconstructor"): _reconstructor, ("_codecs", "encode"): _latin1_encode,
            **{(m, n): v for m in ("__builtin__", "builtins") for n, v in _BUILTINS.items()}}


def _resolve_stand_in(module: str, name: str) -> Any:
    """chumpy objects -> _ChumpyStandIn, scipy.sparse matrices -> their stand-ins, else None (refused)."""
    if module == "chumpy" or module.startswith("chumpy."):
        return _ChumpyStandIn
    if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_CLASSES:
        return _SPARSE_CLASSES[name]
    return None


def read_model_pickle(path: str | Path) -> dict[str, Any]:
    """Unpickle a body model .pkl without chumpy and without running foreign code.

    Returns the top-level dict with chumpy objects replaced by ndarrays and scipy.sparse
    matrices densified. Raises UnsafePickleError for any global outside the allow-list and
    BodyModelError for truncated or malformed files, each naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = AllowListUnpickler(f, _ALLOWED, resolve=_resolve_stand_in).load()
    except RefusedGlobal as exc:
        raise UnsafePickleError(
            f"pickle references the global {exc.name}, which no body model file needs; refusing to load it",
            path=path,
            fix="use the official file, or convert it to .npz in an environment you trust",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError, MemoryError) as exc:
        raise BodyModelError(f"is truncated or not a body model pickle ({type(exc).__name__}: {exc})",
                             path=path, fix="download the model file again") from None
    if not isinstance(raw, dict):
        raise BodyModelError(f"pickle holds a {type(raw).__name__}, not a dict of model arrays",
                             path=path, fix="point at an official SMPL-family model file")
    converted: dict[int, Any] = {}
    return {str(k): _plain(v, path, str(k), converted) for k, v in raw.items()}


def _plain(value: Any, path: Path, key: str, seen: dict[int, Any]) -> Any:
    """Replace stand-ins (recursively) by arrays."""
    if id(value) in seen:
        return seen[id(value)]
    if isinstance(value, _ChumpyStandIn):
        state = value.state[0] if isinstance(value.state, tuple) and value.state else value.state
        if not isinstance(state, dict) or "x" not in state:
            raise BodyModelError(
                f"key '{key}' is a chumpy expression without a stored value, which cannot be read without chumpy",
                path=path, fix="use the official model file, or convert it with smplx's tools/clean_ch.py")
        out = np.asarray(_plain(state["x"], path, key, seen))
    elif isinstance(value, _SparseStandIn):
        out = _densify(value, path, key)
    elif isinstance(value, dict):
        out = {k: _plain(v, path, key, seen) for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        out = type(value)(_plain(v, path, key, seen) for v in value)
    else:
        return value
    seen[id(value)] = out
    return out


def _densify(matrix: _SparseStandIn, path: Path, key: str) -> np.ndarray:
    state = matrix.state[0] if isinstance(matrix.state, tuple) and matrix.state else matrix.state
    bad = BodyModelError(f"key '{key}' is a malformed scipy.sparse {matrix.layout} matrix", path=path,
                         fix="download the model file again")
    if not isinstance(state, dict):
        raise bad
    try:
        shape = tuple(int(n) for n in state.get("_shape", state.get("shape")))
        data = np.asarray(state["data"])
        dense = np.zeros(shape, dtype=data.dtype if data.dtype.kind == "f" else np.float64)
        if matrix.layout == "coo":
            rows, cols = state["coords"] if "coords" in state else (state["row"], state["col"])
        else:
            indices, indptr = np.asarray(state["indices"]), np.asarray(state["indptr"])
            outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            rows, cols = (indices, outer) if matrix.layout == "csc" else (outer, indices)
        np.add.at(dense, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), data)
    except (KeyError, TypeError, ValueError, IndexError):
        raise bad from None
    return dense


# ----------------------------------------------------------------------------- loading

@dataclass(frozen=True, eq=False)
class BodyModelData:
    """The arrays of one SMPL-family model file (what smplx reads), plus where they came from.

    `arrays`: key -> ndarray in smplx's names (v_template (V, 3), f (F, 3), J_regressor (J, V) dense,
    weights (V, J), kintree_table (2, J), shapedirs (V, 3, K), posedirs (V, 3, 9(J-1)), hand PCA,
    landmarks). Floats are float64, metres, Y up, facing +Z. `clean_npz`: an .npz that smplx can
    read safely and that holds these arrays (the source .npz itself when it has no object arrays and
    nothing had to be added, or the cache entry of a .pkl), or None.
    """

    model_type: str
    gender: str
    source: Path
    sha256: str
    arrays: dict[str, np.ndarray] = field(repr=False)
    clean_npz: Path | None = None

    @property
    def num_joints(self) -> int:
        return NUM_JOINTS[self.model_type]

    @property
    def num_vertices(self) -> int:
        return int(self.arrays["v_template"].shape[0])

    @property
    def parents(self) -> np.ndarray:
        """(J,) int64, -1 for the root."""
        parents = self.arrays["kintree_table"][0].astype(np.int64)
        parents[0] = -1
        return parents

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 vertex indices."""
        return self.arrays["f"].astype(np.int64)

    @property
    def shape_dims(self) -> int:
        """Number of betas the file's shape space holds (smplx may use fewer: 10 when K < 300)."""
        k = self.arrays["shapedirs"].shape[2]
        if self.model_type == "smplx":
            return 300 if k >= 400 else 10
        return int(k)

    @property
    def expression_slice(self) -> slice | None:
        """Where the SMPL-X expression directions sit in shapedirs (smplx's rule); None otherwise."""
        if self.model_type != "smplx":
            return None
        k = self.arrays["shapedirs"].shape[2]
        return slice(300, 400) if k >= 400 else slice(10, min(20, k))

    @cached_property
    def joint_template(self) -> np.ndarray:
        """(J, 3) float64: J_regressor @ v_template, the rest joints at zero betas."""
        return self.arrays["J_regressor"] @ self.arrays["v_template"]

    @cached_property
    def joint_shapedirs(self) -> np.ndarray:
        """(J, 3, K) float64: J_regressor applied to every shape (and expression) direction."""
        sd = self.arrays["shapedirs"]
        return (self.arrays["J_regressor"] @ sd.reshape(sd.shape[0], -1)).reshape(-1, 3, sd.shape[2])


def load_body_model(path_or_dir: str | Path, model_type: str, gender: str = "neutral",
                    cache_dir: str | Path | None = None) -> BodyModelData:
    """Load an SMPL / SMPL-H / SMPL-X model file (.npz, or .pkl with or without chumpy objects).

    `path_or_dir`: the file, or a folder laid out as smplx.create expects (DIR/smplx/SMPLX_MALE.npz).
    `cache_dir`: where a clean .npz of a .pkl is kept (keyed by the .pkl's sha256); None caches
    nothing. The cache is never written beside the source unless `cache_dir` says so.
    """
    model_type, gender = _check_kind(model_type, gender)
    source = resolve_model_file(path_or_dir, model_type, gender)
    sha = sha256_file(source)
    clean: Path | None = None
    cached: Path | None = None
    if source.suffix == ".npz":
        arrays, complete = _read_npz(source)
        source_keys = set(arrays)
    else:
        if cache_dir is not None:
            cached = Path(cache_dir).expanduser() / f"{source.stem}.{sha[:20]}.npz"
        arrays = None
        if cached is not None and cached.is_file():
            try:
                arrays, _ = _read_npz(cached)
                _validate(arrays, model_type, source)
                clean = cached
            except BodyModelError:
                arrays = None  # a damaged cache entry is rebuilt below
        if arrays is None:
            arrays = _numeric_arrays(read_model_pickle(source))
    arrays = _normalise(arrays, model_type, source)
    if source.suffix == ".npz" and complete and set(arrays) <= source_keys:
        clean = source  # smplx may read the user's file directly: no object arrays, nothing added
    if source.suffix == ".pkl" and cached is not None and clean is None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes(cached, buf.getvalue())
        clean = cached
    return BodyModelData(model_type=model_type, gender=gender, source=source, sha256=sha,
                         arrays=arrays, clean_npz=clean)


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], bool]:
    """Numeric arrays of an .npz without unpickling; `complete` is False if any key was skipped."""
    arrays: dict[str, np.ndarray] = {}
    complete = True
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    value = npz[key]
                except ValueError:  # object arrays (e.g. joint2num dicts): smplx never reads them
                    complete = False
                    continue
                if value.dtype.kind in "fiub":
                    arrays[key] = value
                else:
                    complete = False
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise BodyModelError(f"is truncated or not an .npz file ({type(exc).__name__}: {exc})", path=path,
                             fix="download the model file again") from None
    return arrays, complete


def _numeric_arrays(raw: dict[str, Any]) -> dict[str, np.ndarray]:
    """Keep the numeric arrays of an unpickled model dict (drop strings, dicts, training info)."""
    out = {}
    for key, value in raw.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            out[key] = value
    return out


def _normalise(arrays: dict[str, np.ndarray], model_type: str, path: Path) -> dict[str, np.ndarray]:
    """Validate, fill the AMASS SMPL-H gap (no hand PCA keys) and cast to smplx-friendly dtypes."""
    arrays = dict(arrays)
    if model_type == "smplh" and "hands_componentsl" not in arrays and "hands_meanl" not in arrays:
        # The AMASS "extended SMPL+H" npz has no MANO PCA: an identity basis and zero means make
        # use_pca=False / flat_hand_mean=True exact (docs/rendering.md §2).
        for side in "lr":
            arrays[f"hands_components{side}"] = np.eye(45)
            arrays[f"hands_mean{side}"] = np.zeros(45)
    _validate(arrays, model_type, path)
    keep = REQUIRED_KEYS[model_type] + OPTIONAL_KEYS
    out: dict[str, np.ndarray] = {}
    for key in keep:
        if key not in arrays:
            continue
        value = np.asarray(arrays[key])
        if key in ("f", "ft", "lmk_faces_idx", "dynamic_lmk_faces_idx"):
            out[key] = value.astype(np.int64)
        elif key == "kintree_table":
            out[key] = value.astype(np.int64)
        else:
            out[key] = np.ascontiguousarray(value, dtype=np.float64)
    return out


def _validate(arrays: dict[str, np.ndarray], model_type: str, path: Path) -> None:
    missing = [k for k in REQUIRED_KEYS[model_type] if k not in arrays]
    if missing:
        raise BodyModelError(f"is not a {model_type} model file: missing key(s) {', '.join(missing)}",
                             path=path, fix=f"use the official {model_type.upper()} file from "
                                            f"{DOWNLOAD_PAGES[model_type]}")
    nj = NUM_JOINTS[model_type]
    v = arrays["v_template"]
    nv = v.shape[0] if v.ndim == 2 else -1

    def check(key: str, expected: tuple[int | None, ...]) -> None:
        shape = arrays[key].shape
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
            want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
            raise BodyModelError(f"key '{key}' has shape {shape}, a {model_type} model needs {want}",
                                 path=path, fix=f"check that the file is an {model_type.upper()} model")

    check("v_template", (None, 3))
    check("f", (None, 3))
    check("J_regressor", (nj, nv))
    check("weights", (nv, nj))
    check("kintree_table", (2, nj))
    check("shapedirs", (nv, 3, None))
    check("posedirs", (nv, 3, 9 * (nj - 1)))
    if model_type != "smpl":
        for side in "lr":
            check(f"hands_mean{side}", (45,))
            check(f"hands_components{side}", (None, 45))
    if model_type == "smplx":
        check("lmk_faces_idx", (None,))
        check("lmk_bary_coords", (arrays["lmk_faces_idx"].shape[0], 3))
        if arrays["shapedirs"].shape[2] < 20:
            raise BodyModelError(f"SMPL-X shapedirs has {arrays['shapedirs'].shape[2]} components, at least 20 "
                                 "(10 betas + 10 expressions) are needed", path=path,
                                 fix="use the official SMPL-X file")
    for key in ("v_template", "J_regressor", "shapedirs", "weights"):
        if not np.all(np.isfinite(arrays[key])):
            raise BodyModelError(f"key '{key}' holds NaN or inf", path=path, fix="download the model file again")
    parents = np.asarray(arrays["kintree_table"][0]).astype(np.int64)
    if not np.array_equal(parents[1:NUM_BODY_JOINTS], BODY_PARENTS[1:]) or np.any(parents[1:] >= np.arange(1, nj)):
        raise BodyModelError("kintree_table is not the SMPL-family kinematic tree", path=path,
                             fix=f"check that the file is an {model_type.upper()} model")


# ----------------------------------------------------------------------------- joints-only FK

def rest_joints(model: BodyModelData, betas: np.ndarray | None = None,
                expression: np.ndarray | None = None) -> np.ndarray:
    """Rest joint locations of one person: J_regressor @ (v_template + shapedirs @ betas).

    betas: (K,) or (1, K), K <= model.shape_dims (AMASS SMPL-H uses 16); expression: (E,) or (1, E),
    SMPL-X only (E <= 10, or 100 for 400-component files). Returns (J, 3) float64, metres.
    """
    joints = model.joint_template.copy()
    for name, coeffs, start, limit in (("betas", betas, 0, model.shape_dims),
                                       ("expression", expression, None, None)):
        if coeffs is None:
            continue
        c = np.asarray(coeffs, dtype=np.float64)
        if c.ndim == 2 and c.shape[0] == 1:
            c = c[0]
        if c.ndim != 1 or not np.all(np.isfinite(c)):
            raise BodyModelError(f"{name} must be a finite (K,) vector, got shape {np.shape(coeffs)}",
                                 path=model.source, fix=f"pass one {name} row per person")
        if name == "expression":
            sl = model.expression_slice
            if sl is None:
                raise BodyModelError(f"a {model.model_type} model has no expression space", path=model.source,
                                     fix="pass expression only with SMPL-X")
            start, limit = sl.start, sl.stop - sl.start
        if len(c) > limit:
            raise BodyModelError(f"{len(c)} {name} given, the model file holds {limit}", path=model.source,
                                 fix=f"pass at most {limit} {name}")
        joints += model.joint_shapedirs[:, :, start:start + len(c)] @ c
    return joints


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) axis-angle -> (..., 3, 3) rotation matrices, float64."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    comps = _rodrigues_components(np.moveaxis(aa, -1, 0))
    return np.moveaxis(np.moveaxis(comps, 0, -1), 0, -1)


def _rodrigues_components(aa: np.ndarray) -> np.ndarray:
    """(3, ...) axis-angle -> (3, 3, ...) rotation matrices, component-major (vectorised over ...)."""
    x, y, z = aa
    theta2 = x * x + y * y + z * z
    theta = np.sqrt(theta2)
    small = theta2 < 1e-12
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1-cos(t))/t^2, with their Taylor values near zero
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    bx, by, bz = b * x, b * y, b * z
    ax, ay, az = a * x, a * y, a * z
    bxy, bxz, byz = bx * y, bx * z, by * z
    return np.array([
        [1.0 - by * y - bz * z, bxy - az, bxz + ay],
        [bxy + az, 1.0 - bx * x - bz * z, byz - ax],
        [bxz - ay, byz + ax, 1.0 - bx * x - by * y],
    ])


def _frame_rows(value: np.ndarray, frames: int, name: str, model: BodyModelData) -> np.ndarray:
    """`value` as (T, n) float64, checking that it has one row per frame."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[0] != frames:
        raise BodyModelError(f"{name} has shape {arr.shape}, expected {frames} frames like global_orient",
                             path=model.source, fix="pass every per-frame parameter with the same number of frames")
    return arr.reshape(frames, -1)


def _body_pose_63(body_pose: np.ndarray, frames: int, model: BodyModelData) -> np.ndarray:
    bp = _frame_rows(body_pose, frames, "body_pose", model)
    if bp.shape[1] not in (63, 69):
        raise BodyModelError(f"body_pose must be (T, 63) or (T, 69) axis-angle, got {np.shape(body_pose)}",
                             path=model.source,
                             fix="pass joints 1-21 (SMPL-H / SMPL-X) or 1-23 (SMPL) as axis-angle")
    return bp[:, :63]


def forward_joints(model: BodyModelData, rest: np.ndarray, global_orient: np.ndarray,
                   body_pose: np.ndarray, transl: np.ndarray | None = None) -> np.ndarray:
    """Posed body joints through the kinematic chain only (no skinning, no pose blend shapes).

    rest: (J, 3) from `rest_joints`; global_orient: (T, 3) axis-angle; body_pose: (T, 63) (or
    (T, 69) for SMPL: the first 63 numbers are used) axis-angle of joints 1-21; transl: (T, 3) metres.
    Returns (T, 22, 3) float64, metres, in the model frame (SMPL family: Y up) plus transl;
    equal to smplx's `joints[:, :22]` for the same parameters.
    """
    go = np.asarray(global_orient, dtype=np.float64)
    if go.ndim != 2 or go.shape[1] != 3:
        raise BodyModelError(f"global_orient must be (T, 3), got {go.shape}", path=model.source,
                             fix="pass one axis-angle per frame")
    frames = go.shape[0]
    pose = np.concatenate([go, _body_pose_63(body_pose, frames, model)], axis=1).reshape(frames, NUM_BODY_JOINTS, 3)
    tr = np.zeros((frames, 3)) if transl is None else _frame_rows(transl, frames, "transl", model)
    if tr.shape[1] != 3:
        raise BodyModelError(f"transl must be (T, 3), got {np.shape(transl)}", path=model.source,
                             fix="pass one translation per frame, metres")
    if not (np.all(np.isfinite(pose)) and np.all(np.isfinite(tr))):
        raise BodyModelError("pose or translation holds NaN or inf", path=model.source,
                             fix="drop or repair the bad frames before forward kinematics")
    rest = np.asarray(rest, dtype=np.float64)
    parents = model.parents[:NUM_BODY_JOINTS]
    offsets = rest[:NUM_BODY_JOINTS] - rest[np.maximum(parents, 0)]
    offsets[0] = rest[0]

    # component-major layout: every operation runs over contiguous per-frame vectors
    rot = _rodrigues_components(np.ascontiguousarray(pose.transpose(2, 1, 0)))  # (3, 3, 22, T)
    has_child = np.zeros(NUM_BODY_JOINTS, dtype=bool)
    has_child[parents[1:]] = True
    world_rot: list[np.ndarray | None] = [None] * NUM_BODY_JOINTS
    pos = np.empty((NUM_BODY_JOINTS, 3, frames))
    world_rot[0] = rot[:, :, 0]
    pos[0] = tr.T + offsets[0][:, None]
    for j in range(1, NUM_BODY_JOINTS):
        p = parents[j]
        g = world_rot[p]
        o = offsets[j]
        pos[j] = pos[p] + g[:, 0] * o[0] + g[:, 1] * o[1] + g[:, 2] * o[2]
        if has_child[j]:
            r = rot[:, :, j]
            world_rot[j] = g[:, 0, None] * r[0] + g[:, 1, None] * r[1] + g[:, 2, None] * r[2]
    return np.ascontiguousarray(pos.transpose(2, 0, 1))


def body_joints(model: BodyModelData, betas: np.ndarray | None, global_orient: np.ndarray,
                body_pose: np.ndarray, transl: np.ndarray | None = None,
                expression: np.ndarray | None = None) -> np.ndarray:
    """`rest_joints` + `forward_joints` for one person: (T, 22, 3) float64, metres."""
    return forward_joints(model, rest_joints(model, betas, expression), global_orient, body_pose, transl)


# ----------------------------------------------------------------------------- full smplx runs

def smplx_keypoint_vertex_ids_needed(model_type: str) -> int:
    """Smallest vertex count smplx's built-in keypoint vertex ids fit in (for the extra joints)."""
    from smplx.vertex_ids import vertex_ids

    return 1 + max(vertex_ids["smplx" if model_type == "smplx" else "smplh"].values())


@contextlib.contextmanager
def _clean_npz_file(model: BodyModelData) -> Iterator[Path]:
    if model.clean_npz is not None:
        yield model.clean_npz
        return
    with tempfile.TemporaryDirectory(prefix="vimo-body-") as tmp:
        path = Path(tmp) / f"{model.model_type.upper()}_{model.gender.upper()}.npz"
        np.savez(path, **model.arrays)
        yield path


def build_smplx_module(model: BodyModelData, *, batch_size: int, dtype: "torch.dtype | None" = None,
                       num_betas: int = 10, num_expression_coeffs: int = 10, flat_hand_mean: bool = True,
                       keypoint_vertex_ids: dict[str, int] | None = None) -> "torch.nn.Module":
    """The smplx module (smplx.SMPL / SMPLH / SMPLX) for `model`, built from the clean arrays.

    Hands take 45 numbers each (use_pca=False); `flat_hand_mean` as in Inter-X's fits.
    `keypoint_vertex_ids`: the 21 extra keypoint vertices (nose, eyes, ears, fingertips, toes,
    heels) for meshes that do not use the official topology; the default is smplx's own table,
    which needs the official vertex count.
    """
    from vimo.extras import require

    require("render", "smplx")
    import smplx
    import torch
    from smplx.vertex_joint_selector import VertexJointSelector

    dtype = torch.float32 if dtype is None else dtype
    if keypoint_vertex_ids is None and model.num_vertices < smplx_keypoint_vertex_ids_needed(model.model_type):
        raise BodyModelError(
            f"the mesh has {model.num_vertices} vertices, fewer than smplx's keypoint vertex ids need",
            path=model.source, fix="pass keypoint_vertex_ids for a non-official mesh")
    common = dict(batch_size=batch_size, dtype=dtype, gender=model.gender, num_betas=num_betas)
    hands = dict(use_pca=False, flat_hand_mean=flat_hand_mean)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for 10-beta files
        if model.model_type == "smpl":
            module = smplx.SMPL(str(model.source), data_struct=smplx.utils.Struct(**model.arrays),
                                vertex_ids=keypoint_vertex_ids, **common)
        elif model.model_type == "smplh":
            module = smplx.SMPLH(str(model.source), data_struct=smplx.utils.Struct(**model.arrays),
                                 vertex_ids=keypoint_vertex_ids, **common, **hands)
        else:
            with _clean_npz_file(model) as npz_path:
                module = smplx.SMPLX(str(npz_path), ext="npz", num_expression_coeffs=num_expression_coeffs,
                                     **common, **hands)
            if keypoint_vertex_ids is not None:
                module.vertex_joint_selector = VertexJointSelector(vertex_ids=keypoint_vertex_ids)
    return module.eval()


def _per_frame(value: np.ndarray | None, frames: int, width: int, name: str, model: BodyModelData) -> np.ndarray:
    """(T, width) float64 from `value`, zeros when None; SMPL's 69-d body pose may come as 63."""
    if value is None:
        return np.zeros((frames, width))
    arr = _frame_rows(value, frames, name, model)
    if name == "body_pose" and width == 69 and arr.shape[1] == 63:
        arr = np.concatenate([arr, np.zeros((frames, 6))], axis=1)
    if arr.shape[1] != width:
        raise BodyModelError(f"{name} has {arr.shape[1]} numbers per frame, {model.model_type} needs {width}",
                             path=model.source, fix=f"pass {name} as (T, {width})")
    return arr


@dataclass
class SmplxOutput:
    """Posed meshes and joints from a full smplx forward pass (numpy, model frame + transl)."""

    vertices: np.ndarray  # (T, V, 3)
    joints: np.ndarray  # (T, J', 3): the tree joints, then smplx's keypoints (and landmarks)


def smplx_forward(model: BodyModelData, betas: np.ndarray | None, global_orient: np.ndarray,
                  body_pose: np.ndarray, transl: np.ndarray | None = None, *,
                  expression: np.ndarray | None = None, left_hand_pose: np.ndarray | None = None,
                  right_hand_pose: np.ndarray | None = None, jaw_pose: np.ndarray | None = None,
                  double: bool = False, batch_size: int = 256, flat_hand_mean: bool = True,
                  keypoint_vertex_ids: dict[str, int] | None = None,
                  module: "torch.nn.Module | None" = None) -> SmplxOutput:
    """Run the full smplx model (skinning, pose blend shapes) over T frames, in chunks.

    betas (K,) per person; global_orient (T, 3); body_pose (T, 63) ((T, 69) for SMPL); transl (T, 3);
    hands (T, 45) each; jaw (T, 3) and expression (E,) or (T, E) for SMPL-X. `module` reuses a
    module from `build_smplx_module` (its batch_size is the chunk size).
    """
    import torch

    go = np.asarray(global_orient, dtype=np.float64).reshape(-1, 3)
    frames = len(go)
    bp = _per_frame(body_pose, frames, 69 if model.model_type == "smpl" else 63, "body_pose", model)
    n_betas = 10 if betas is None else int(np.asarray(betas).size)
    betas_row = np.zeros(n_betas) if betas is None else np.asarray(betas, dtype=np.float64).reshape(-1)
    inputs: dict[str, np.ndarray] = {
        "global_orient": go, "body_pose": bp, "transl": _per_frame(transl, frames, 3, "transl", model),
        "betas": np.broadcast_to(betas_row, (frames, n_betas)),
    }
    if model.model_type != "smpl":
        inputs["left_hand_pose"] = _per_frame(left_hand_pose, frames, 45, "left_hand_pose", model)
        inputs["right_hand_pose"] = _per_frame(right_hand_pose, frames, 45, "right_hand_pose", model)
    n_expr = 10
    if model.model_type == "smplx":
        inputs["jaw_pose"] = _per_frame(jaw_pose, frames, 3, "jaw_pose", model)
        inputs["leye_pose"] = np.zeros((frames, 3))
        inputs["reye_pose"] = np.zeros((frames, 3))
        expr = np.zeros((1, 10)) if expression is None else np.asarray(expression, np.float64)
        expr = expr.reshape(1, -1) if expr.ndim == 1 else expr
        n_expr = expr.shape[1]
        inputs["expression"] = np.broadcast_to(expr, (frames, n_expr))
    dtype = torch.float64 if double else torch.float32
    chunk = min(batch_size, frames) if module is None else int(module.batch_size)
    if module is None:
        module = build_smplx_module(model, batch_size=chunk, dtype=dtype, num_betas=n_betas,
                                    num_expression_coeffs=n_expr, flat_hand_mean=flat_hand_mean,
                                    keypoint_vertex_ids=keypoint_vertex_ids)
    dtype = module.shapedirs.dtype
    verts, joints = [], []
    with torch.no_grad():
        for start in range(0, frames, chunk):
            stop = min(start + chunk, frames)
            batch = {}
            for name, value in inputs.items():
                part = value[start:stop]
                if stop - start < chunk:  # smplx sizes some buffers by the module's batch size
                    part = np.concatenate([part, np.zeros((chunk - (stop - start),) + part.shape[1:])])
                batch[name] = torch.as_tensor(np.ascontiguousarray(part), dtype=dtype)
            out = module(**batch)
            verts.append(out.vertices[: stop - start].numpy())
            joints.append(out.joints[: stop - start].numpy())
    return SmplxOutput(vertices=np.concatenate(verts), joints=np.concatenate(joints))
