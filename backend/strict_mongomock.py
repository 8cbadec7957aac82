"""mongomock's client, made to refuse the updates MongoDB refuses, with MongoDB's own errors: the
embedded store (backend/embedded.py) and the test server (harness/mongod.py) keep data in it.

mongomock applies updates a mongod refuses, so a route could pass every test and answer 500 on
MongoDB. Here, as on MongoDB 7:
- two operators naming one path, or a path and its prefix (`$set` and `$unset` of `x`, `a` and
  `a.b`) are code 40, ConflictingUpdateOperators, whether or not a document matches;
- changing `_id`, by operators or by a replacement, is code 66, ImmutableField;
- writing a top-level field whose name starts with `$` into an existing document is code 52,
  DollarPrefixedFieldName (MongoDB accepts one in an insert, an upsert's insert, or nested);
- each document's update is all or nothing (mongomock kept the operators applied before one that
  failed, and a replacement that failed left the document emptied);
- a replacement keeps the document's `_id` whatever the filter (mongomock took `_id` from the
  filter: `{"_id": {"$in": [...]}}` was refused).
An update is a WriteError; findAndModify fails the command instead: OperationFailure, as the
drivers raise them.
"""

import copy
from collections.abc import Mapping
from typing import Any

import mongomock
from mongomock.collection import Collection
from mongomock.database import Database
from pymongo.errors import OperationFailure, WriteError

CODE_NAMES = {40: "ConflictingUpdateOperators", 52: "DollarPrefixedFieldName", 66: "ImmutableField"}
# Operators that store nothing in a document that already exists.
_NOT_STORING = {"$unset", "$setOnInsert"}


class StrictMongoClient(mongomock.MongoClient):
    """`mongomock.MongoClient`, whose collections refuse what MongoDB refuses (module docstring)."""

    def get_database(self, *args: Any, **kwargs: Any) -> Database:
        database = super().get_database(*args, **kwargs)
        database.__class__ = _StrictDatabase  # mongomock caches it: made once, kept strict
        return database


class _StrictDatabase(Database):
    def get_collection(self, *args: Any, **kwargs: Any) -> Collection:
        collection = super().get_collection(*args, **kwargs)
        collection.__class__ = _StrictCollection
        return collection


class _StrictCollection(Collection):
    def _update(self, spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_operators(document):
            refuse_conflicts(document)
        return super()._update(spec, document, *args, **kwargs)

    def _find_and_modify(
        self, query: Any, projection: Any = None, update: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            if _is_operators(update):
                refuse_conflicts(update)  # before the search: MongoDB parses the update first
            return super()._find_and_modify(query, projection, update, *args, **kwargs)
        except WriteError as exc:
            if exc.code not in CODE_NAMES:
                raise
            raise OperationFailure(exc.details["errmsg"], exc.code, exc.details) from None

    def _apply_update_document(
        self, existing: dict[str, Any], spec: Any, document: Any, was_insert: bool
    ) -> None:
        before = copy.deepcopy(existing)
        try:
            if not was_insert:
                _refuse_unstorable(before, document)
            if _is_operators(document):
                super()._apply_update_document(existing, spec, document, was_insert)
            else:
                super()._apply_update_document(
                    existing, {"_id": before["_id"]}, document, was_insert
                )
            if not was_insert and existing.get("_id") != before["_id"]:
                path = next((p for p in _paths(document) if p.split(".")[0] == "_id"), "_id")
                message = f"Performing an update on the path '{path}' would modify the immutable"
                raise update_error(66, f"{message} field '_id'")
        except Exception:
            existing.clear()
            existing.update(before)
            raise


def update_error(code: int, message: str) -> WriteError:
    """The write error a mongod answers, with its code and code name."""
    return WriteError(
        message, code, {"code": code, "codeName": CODE_NAMES[code], "errmsg": message}
    )


def refuse_conflicts(update: Mapping[str, Any]) -> None:
    """MongoDB's ConflictingUpdateOperators: no path is named twice, nor inside another."""
    seen: list[str] = []
    for path in _paths(update):
        for other in seen:
            if path == other or path.startswith(f"{other}.") or other.startswith(f"{path}."):
                shorter = min(path, other, key=len)
                raise update_error(
                    40, f"Updating the path '{path}' would create a conflict at '{shorter}'"
                )
        seen.append(path)


def _refuse_unstorable(existing: dict[str, Any], document: Any) -> None:
    if _is_operators(document):
        stored = [
            path
            for operator, fields in document.items()
            if operator not in _NOT_STORING
            for path in _paths({operator: fields})
        ]
    else:
        if "_id" in document and document["_id"] != existing["_id"]:
            raise update_error(
                66,
                "After applying the update, the (immutable) field '_id' was found to have been "
                f"altered to _id: {_shown(document['_id'])}",
            )
        stored = list(document)
    for path in stored:
        name = path.split(".")[0]
        if name.startswith("$"):
            raise update_error(
                52,
                f"The dollar ($) prefixed field '{name}' in '{name}' is not allowed in the context "
                "of an update's replacement document. Consider using an aggregation pipeline with "
                "$replaceWith.",
            )


def _is_operators(update: Any) -> bool:
    return isinstance(update, Mapping) and str(next(iter(update), "")).startswith("$")


def _paths(update: Mapping[str, Any]) -> list[str]:
    """Every path an operator update names, in order; `$rename` names both of its ends."""
    paths = []
    for operator, fields in update.items():
        if isinstance(fields, Mapping):
            for field, value in fields.items():
                paths.append(field)
                if operator == "$rename" and isinstance(value, str):
                    paths.append(value)
    return paths


def _shown(value: Any) -> str:
    """A value as a mongod writes it in a message: `"text"`, `3`, `true`."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
