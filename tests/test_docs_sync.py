"""The README's research-validity section is docs/research_validity.md: one text, kept equal."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_section_equals_the_research_validity_page() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Is the winner luck?\n")
    section = readme[start : readme.index("\n## ", start + 5)].split("\n", 1)[1]
    page = (ROOT / "docs/research_validity.md").read_text().split("\n", 1)[1]
    assert section.strip() == page.strip(), "edit docs/research_validity.md and copy it over"
