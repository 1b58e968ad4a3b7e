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
    # a sub-folder that is itself mapped (none today) is packaged from its own folder, not twice
    packages += [f"{name}.{sub}" for sub in find_packages(folder) if f"{name}.{sub}" not in MAPPING]

setup(packages=sorted(set(packages)), package_dir=MAPPING)
