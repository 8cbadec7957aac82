"""What the tests and the `make` scripts share: the deploy rehearsal, the dev server, free ports
and percentiles. Never deployed (vercel.json's excludeFiles); `scripts/` holds the commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
