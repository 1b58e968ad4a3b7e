"""What shipped code points a reader to must exist in the repo: no internal notes (`shared/`, `specs/`), only
.md files of docs/, README.md, annotation/README.md, data_cards/ and package data (or the names of files vimo
writes), every `docs/<page>.md §N` names a section of that page, and the links between the docs resolve."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("vimo", "pipelines", "annotation", "models")
BUILD_FILES = ("Makefile", "pyproject.toml", "setup.py")
#: where a .md file named by shipped code may live (relative to the repo root)
DOC_LOCATIONS = ("docs/", "data_cards/", "vimo/data/", "pipelines/data/")
DOC_FILES = ("README.md", "annotation/README.md")
#: .md files vimo writes (a release's data card, a benchmark's report, the leaderboard): named, never read
WRITTEN_NAMES = {"README.md", "report.md", "leaderboard.md"}

INTERNAL = re.compile(r"shared/|specs/|shared spec", re.IGNORECASE)
MD_NAME = re.compile(r"(?<![\w/.<>-])(\w[\w./-]*\.md)(?!\w)")
SECTION_REF = re.compile(r"docs/([\w-]+\.md)\s*§\s*(\d+(?:\.\d+)*)(?:\s*[-–]\s*(\d+(?:\.\d+)*))?")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def shipped_files() -> list[Path]:
    files = [ROOT / name for name in BUILD_FILES if (ROOT / name).is_file()]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix in (".py", ".md") and "__pycache__" not in path.parts:
                files.append(path)
    return files


def lines_of(path: Path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        yield f"{path.relative_to(ROOT)}:{number}", line


def package_data_names() -> set[str]:
    return {p.name for loc in ("vimo/data", "pipelines/data") for p in (ROOT / loc).glob("*.md")}


def md_target_exists(name: str) -> bool:
    if name in WRITTEN_NAMES or name in package_data_names():
        return True
    allowed = name in DOC_FILES or name.startswith(DOC_LOCATIONS)
    return allowed and (ROOT / name).is_file()


def section_numbers(page: Path) -> set[str]:
    """'2', '2.3', ... for each heading that starts with a number (`## 2. Title`, `### 2.3 Title`)."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            found.add(m.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces -> hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", page.read_text(encoding="utf-8"), re.M)}


def test_shipped_files_name_no_internal_notes():
    bad = [f"{where}: {line.strip()}" for path in shipped_files() for where, line in lines_of(path)
           if INTERNAL.search(line)]
    assert not bad, "shipped files point at notes users do not have:\n" + "\n".join(bad)


def test_shipped_files_name_only_md_files_of_the_repo():
    bad = []
    for path in shipped_files():
        for where, line in lines_of(path):
            bad += [f"{where}: {name}" for name in MD_NAME.findall(line) if not md_target_exists(name)]
    assert not bad, ("shipped files name .md files that are not in docs/, README.md, annotation/README.md, "
                     "data_cards/ or package data:\n" + "\n".join(bad))


def test_docs_section_references_exist():
    refs = 0
    bad = []
    for path in shipped_files():
        for where, line in lines_of(path):
            for page, first, last in SECTION_REF.findall(line):
                refs += 1
                target = DOCS / page
                if not target.is_file():
                    bad.append(f"{where}: docs/{page} does not exist")
                    continue
                sections = section_numbers(target)
                bad += [f"{where}: docs/{page} has no section {n}" for n in (first, last) if n and n not in sections]
    assert not bad, "\n".join(bad)
    assert refs > 0, "no docs/<page>.md §N reference found: is the pattern still right?"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_docs_links_resolve(page):
    source = DOCS / page
    bad = []
    for where, line in lines_of(source):
        for target in MD_LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue  # external
            file, _, anchor = target.partition("#")
            dest = (source.parent / file).resolve() if file else source
            if not dest.is_file():
                bad.append(f"{where}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                bad.append(f"{where}: {target} (no such heading)")
    assert not bad, "\n".join(bad)


def test_readme_lists_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if f"(docs/{p.name})" not in readme]
    assert not missing, f"README.md's Documentation list lacks {missing}"
