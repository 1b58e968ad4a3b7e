"""One allow-list unpickler for every pickle vimo reads (body model files, Inter-X's data pickles): it builds
only the globals a caller names and refuses every other one, so a pickle cannot run foreign code."""
from __future__ import annotations

import io
import pickle
from typing import IO, Any, Callable, Mapping

import numpy as np

#: plain containers and numbers every data pickle may hold
BUILTINS = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "complex"): complex}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside the allow-list ('refused global module.name'; `.name`: 'module.name')."""

    def __init__(self, name: str):
        super().__init__(f"refused global {name}")
        self.name = name


def numpy_globals() -> dict[tuple[str, str], Any]:
    """The numpy globals that arrays, scalars and dtypes pickle through (numpy 1 and 2 module names)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    found: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core", "numpy._core"):
        found[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        found[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


class AllowListUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class returns `allowed[(module, name)]`, else `resolve(module, name)` when
    given and not None, else raises RefusedGlobal."""

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], *,
                 resolve: Callable[[str, str], Any] | None = None, encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self._allowed, self._resolve = allowed, resolve

    def find_class(self, module: str, name: str) -> Any:
        obj = self._allowed.get((module, name))
        if obj is None and self._resolve is not None:
            obj = self._resolve(module, name)
        if obj is None:
            raise RefusedGlobal(f"{module}.{name}")
        return obj


def data_loads(data: bytes) -> Any:
    """pickle.loads that only builds numpy arrays, numbers, strings and containers."""
    return AllowListUnpickler(io.BytesIO(data), {**numpy_globals(), **BUILTINS}).load()
