"""The samples of every stored shape (tests/shapes/<collection>/<n>.json), and what to tell a
developer whose model change cannot read one."""

from pathlib import Path
from typing import Any

from bson import json_util
from pydantic import ValidationError

from backend.shapes import Shape
from harness import ROOT

SAMPLES = ROOT / "tests" / "shapes"


def sample_file(shape: Shape, version: int) -> Path:
    return SAMPLES / shape.collection / f"{version}.json"


def samples(shape: Shape) -> dict[int, list[dict[str, Any]]]:
    """Each shape's sample documents, by shape, as MongoDB would return them."""
    found = {}
    for version in range(1, shape.version + 1):
        path = sample_file(shape, version)
        if path.exists():
            options = json_util.JSONOptions(tz_aware=True)
            found[version] = json_util.loads(path.read_text(), json_options=options)
    return found


def unreadable(shape: Shape, version: int, index: int, error: ValidationError) -> str:
    """Why sample `index` of shape `version` no longer reads, field by field, and what to add."""
    where = f"{sample_file(shape, version).relative_to(ROOT)}, document {index}"
    lines = [
        f"A document of {shape.collection} stored in shape {version} ({where}) no longer reads:"
    ]
    for problem in error.errors():
        field = ".".join(map(str, problem["loc"]))
        if problem["type"] == "missing":
            fix = (
                f"give `{field}` a default in {shape.model.__name__}, or add an upgrade step to "
                f"the `Shape` of {shape.collection} that sets it"
            )
        else:
            fix = (
                f"accept the stored value in {shape.model.__name__}, or add an upgrade step to "
                f"the `Shape` of {shape.collection} that converts it"
            )
        lines.append(f"- `{field}`: {problem['msg']}: {fix} (README: Change a resource).")
    return "\n".join(lines)
