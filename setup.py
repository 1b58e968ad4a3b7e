"""Package-dir mapping: the top-level folders install as subpackages of `vimo`.

vimo/ -> vimo, pipelines/ -> vimo.pipelines, annotation/ -> vimo.annotation,
models/ -> vimo.models, so a non-editable install puts only `vimo` into site-packages.
"""
from setuptools import find_packages, setup

MAPPING = {"vimo": "vimo", "vimo.pipelines": "pipelines",
           "vimo.annotation": "annotation", "vimo.models": "models"}

packages = []
for name, folder in MAPPING.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)
                 if not any(f"{name}.{sub}".startswith(other + ".") or f"{name}.{sub}" == other
                            for other in MAPPING if other != name)]

setup(packages=sorted(set(packages)), package_dir=MAPPING)
