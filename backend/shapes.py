"""Stored shapes that change safely, MongoDB's Schema Versioning pattern: every document records
the shape it was written in (`schema_version`), reads upgrade an earlier shape to today's, every
write stores today's, and `make migrate` (scripts/migrate.py) upgrades the rest at leisure.

A store declares its `SHAPE = Shape(COLLECTION, PublicModel, UPGRADES)`; backend/server.py lists
every store's in `SHAPES`; tests/shapes/ keeps a sample of each earlier shape, which must read.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from backend.models import Stored

VERSION_FIELD = "schema_version"
# Documents stored before a collection recorded its shape are its first.
FIRST = 1

Document = dict[str, Any]
Upgrade = Callable[[Document], Document]


class UnservableDocument(Exception):
    """A document about to be written would not read through its public model: a bug, answered
    with a 500 before anything is written."""


@dataclass(frozen=True)
class Shape:
    """`upgrades[n - 1]` turns a document of shape n into shape n + 1, so today's shape is
    `len(upgrades) + 1`. A step takes and returns a whole document; it never touches `_id`."""

    collection: str
    model: type[Stored]
    upgrades: tuple[Upgrade, ...] = ()

    @property
    def version(self) -> int:
        return len(self.upgrades) + FIRST

    def upgrade(self, document: Document) -> Document:
        """`document` in today's shape, whatever shape it was stored in."""
        stored = document.get(VERSION_FIELD, FIRST)
        for step in self.upgrades[stored - FIRST :]:
            document = step(document)
        return self._marked(document, stored)

    def read(self, document: Document) -> Stored:
        """The public model of a stored document of any shape."""
        return self.model.from_document(self.upgrade(document))

    def to_store(self, document: Document) -> Document:
        """`document` (today's fields) marked as today's shape, once it is known to read back:
        what a write stores, so that no write leaves behind a document the API cannot serve."""
        document = self._marked(document, document.get(VERSION_FIELD, FIRST))
        try:
            self.model.from_document(document)
        except ValidationError as exc:
            problems = "; ".join(
                f"`{'.'.join(map(str, e['loc']))}`: {e['msg']}" for e in exc.errors()
            )
            raise UnservableDocument(
                f"{self.collection}: the document does not read as {self.model.__name__}: "
                f"{problems}"
            ) from None
        return document

    def _marked(self, document: Document, stored: int) -> Document:
        # A document a later release wrote (read after a rollback) keeps its mark, so that
        # release does not upgrade it twice; the fields this one does not know stay in it.
        return {**document, VERSION_FIELD: max(stored, self.version)}

    def earlier(self) -> dict[str, Any]:
        """The filter of documents stored in an earlier shape: what `make migrate` upgrades."""
        return {
            "$or": [
                {VERSION_FIELD: {"$exists": False}},
                {VERSION_FIELD: {"$lt": self.version}},
            ]
        }
