"""Documents the repository points at are in it: the wire contract's protocol note is a copy
of the team's shared one (kept equal when the shared directory is present), and every
backquoted ``*.md`` name in our documents resolves (the protocol note itself cites CyTube's
repository, so it is not checked that way)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def test_the_protocol_note_is_the_shared_one_when_present():
    doc = ROOT / "docs" / "cytube-protocol.md"
    assert doc.exists()
    if (SHARED / "cytube-protocol.md").exists():
        assert doc.read_text() == (SHARED / "cytube-protocol.md").read_text(), \
            "docs/cytube-protocol.md is stale: copy /work/shared/cytube-protocol.md"


@pytest.mark.parametrize("source", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")
    if p.name != "cytube-protocol.md")])
def test_every_markdown_file_a_document_names_exists(source):
    path = ROOT / source
    names = set(re.findall(r"`([\w./-]+\.md)`", path.read_text()))
    missing = [n for n in names
               if not (path.parent / n).exists() and not (ROOT / n).exists()]
    assert not missing, f"{source} names files that are not in the repository: {missing}"
