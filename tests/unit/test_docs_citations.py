"""Source citations of the wire facts resolve to sections of docs/wire-facts.md.

The code cites the externally defined STS/IAM behaviour it relies on as
``docs/wire-facts.md §N``. This test keeps those citations honest: no file under src/
may point at the old out-of-repo "wire notes", and every cited section must exist as a
heading (``## §N …`` / ``### §N.M …``) in the document.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "wire-facts.md"

_HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+)*)\b", re.MULTILINE)
# "docs/wire-facts.md" followed by one or more section references, e.g.
# "§4.2, §4.9", "§6.1/§6.2/§4.8", "§4.2–§4.7", "§6.1 step 8" (across a line break too).
_CITATION = re.compile(r"docs/wire-facts\.md(?P<refs>(?:[\s,/;&–-]*(?:and\s+)?§\d+(?:\.\d+)*)+)")
_SECTION = re.compile(r"§(\d+(?:\.\d+)*)")


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*") if p.is_file() and p.suffix in {".py", ".pyi"})


def _doc_sections() -> set[str]:
    return set(_HEADING.findall(DOC.read_text(encoding="utf-8")))


def _citations() -> list[tuple[Path, int, str]]:
    found: list[tuple[Path, int, str]] = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for match in _CITATION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            for section in _SECTION.findall(match.group("refs")):
                found.append((path, line, section))
    return found


def test_doc_has_numbered_sections() -> None:
    sections = _doc_sections()
    assert {"1", "3", "4", "5", "6"} <= sections, sorted(sections)


def test_no_source_cites_the_wire_notes() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"wire[ -]notes", line, re.IGNORECASE)
    ]
    assert not offenders, "cite docs/wire-facts.md §N instead: " + ", ".join(offenders)


def test_cited_sections_exist() -> None:
    citations = _citations()
    assert citations, "no docs/wire-facts.md citations found under src/ (regex broken?)"
    sections = _doc_sections()
    missing = [
        f"{path.relative_to(ROOT)}:{line} cites §{section}"
        for path, line, section in citations
        if section not in sections
    ]
    assert not missing, "sections missing from docs/wire-facts.md: " + ", ".join(missing)


def test_citation_pattern_reads_every_form() -> None:
    text = (
        "(docs/wire-facts.md §4.2–§4.7) docs/wire-facts.md §6.1/§6.2/§4.8 "
        "(docs/wire-facts.md\n§4.8, §4.10, §4.5) docs/wire-facts.md §6.1 step 8"
    )
    refs = [
        section
        for match in _CITATION.finditer(text)
        for section in _SECTION.findall(match.group("refs"))
    ]
    assert refs == ["4.2", "4.7", "6.1", "6.2", "4.8", "4.8", "4.10", "4.5", "6.1"]
