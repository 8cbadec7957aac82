"""README's Troubleshooting table: the one list of failures and their fixes.

`make smoke` prints the fix for each failure from here, and a test holds the status page's copy
of the table (`public/index.html`, which cannot read README on Vercel) to it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT

HEADING = "## Troubleshooting"
_DETAIL = re.compile(r"\d{3} `([^`]*)`")


@dataclass(frozen=True)
class Entry:
    you_see: str  # as in README, Markdown backticks and all
    means: str
    fix: str

    @property
    def detail_start(self) -> str | None:
        """The start of the error `detail` a row like "503 `detail...`" is about: its code span
        up to the first placeholder (`...`, ` (...)`, `<Type>`)."""
        found = _DETAIL.match(self.you_see)
        start = re.split(r"\.\.\.| \(|<", found[1])[0] if found else ""
        return start or None


def entries(readme: Path = ROOT / "README.md") -> list[Entry]:
    section = readme.read_text().split(f"\n{HEADING}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    if not rows:
        raise ValueError(f"{readme} has no table under {HEADING!r}")
    # The first row is the header; a cell holds no ` | `.
    return [Entry(*(cell.strip() for cell in row.strip("|").split(" | "))) for row in rows[1:]]


def fix_for_detail(detail: str, table: list[Entry]) -> str | None:
    """The fix for an error `detail`, if the table has a row for it."""
    for entry in table:
        start = entry.detail_start
        if start is not None and detail.startswith(start):
            return entry.fix
    return None


def fix_for(you_see_start: str, table: list[Entry]) -> str:
    """The fix of the row whose "you see" begins so (e.g. `401`): a row the caller relies on."""
    for entry in table:
        if entry.you_see.startswith(you_see_start):
            return entry.fix
    raise LookupError(f"README's Troubleshooting has no row starting {you_see_start!r}")
