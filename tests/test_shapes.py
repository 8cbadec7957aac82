"""Stored shapes change safely: every sample of every shape a collection has stored
(tests/shapes/) reads through today's model, on every database and through every route the
OpenAPI document lists; a model change that cannot read one fails here naming the field."""

import importlib
import pkgutil

import pytest
from pydantic import ValidationError

import backend
from backend.items_store import SHAPE as ITEM_SHAPE
from backend.models import ItemPublic
from backend.owners import OWNER
from backend.server import SHAPES
from backend.shapes import VERSION_FIELD, Shape
from harness import ROOT
from harness.openapi import PATH_PARAMETER, collections, paths
from harness.shapes import sample_file, samples, unreadable
from tests.conftest import ON_EVERY_DATABASE

BY_COLLECTION = pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.collection)


def test_every_shape_a_backend_module_declares_is_listed():
    """A store's SHAPE left out of backend.server.SHAPES would be neither sampled nor migrated."""
    modules = pkgutil.walk_packages(backend.__path__, "backend.")
    found = (getattr(importlib.import_module(info.name), "SHAPE", None) for info in modules)
    declared = [shape for shape in found if isinstance(shape, Shape)]
    assert len(declared) > 1
    assert [shape for shape in declared if shape not in SHAPES] == []


@BY_COLLECTION
def test_every_shape_of_every_collection_has_a_sample(shape):
    missing = [
        str(sample_file(shape, version).relative_to(ROOT))
        for version in range(1, shape.version + 1)
        if not sample_file(shape, version).exists()
    ]
    assert missing == [], f"Add a sample of each shape (tests/shapes/README.md): {missing}"


@BY_COLLECTION
def test_every_sample_of_every_shape_reads_as_today_s_model(shape):
    problems = []
    for version, documents in samples(shape).items():
        assert documents, f"{sample_file(shape, version)} holds no document"
        for index, document in enumerate(documents):
            try:
                shape.read(document)
            except ValidationError as error:
                problems.append(unreadable(shape, version, index, error))
    assert problems == [], "\n".join(problems)


class ItemWithAColor(ItemPublic):
    color: str  # required: what a developer adds to a model that already has data


def test_a_required_field_without_a_default_or_upgrade_is_named_with_what_to_add():
    """What the test above says when a developer adds a field no stored item has."""
    shape = Shape(ITEM_SHAPE.collection, ItemWithAColor, ITEM_SHAPE.upgrades)
    document = samples(shape)[1][0]
    with pytest.raises(ValidationError) as caught:
        shape.read(document)
    message = unreadable(shape, 1, 0, caught.value)
    assert "tests/shapes/items/1.json, document 0" in message
    assert "`color`: Field required" in message
    assert "give `color` a default in ItemWithAColor, or add an upgrade step" in message


def test_an_upgrade_runs_only_the_steps_after_the_stored_shape():
    steps = []
    shape = Shape(
        "things", ItemPublic, tuple(lambda d, n=n: steps.append(n) or d for n in (1, 2, 3))
    )
    assert shape.upgrade({"_id": "a", VERSION_FIELD: 2}) == {"_id": "a", VERSION_FIELD: 4}
    assert steps == [2, 3]
    assert shape.upgrade({"_id": "b"})[VERSION_FIELD] == 4
    assert steps == [2, 3, 1, 2, 3]


def test_a_document_a_later_release_wrote_keeps_its_shape():
    """After a rollback, what the later release stored is read, and written back, as it was."""
    later = {"_id": "a", "new_field": 1, VERSION_FIELD: ITEM_SHAPE.version + 1}
    assert ITEM_SHAPE.upgrade(later) == later


@ON_EVERY_DATABASE
def test_every_sample_is_served_by_every_route_of_the_document(app, client):
    """Old and new documents side by side: each list is 200 and lists them; every path with an
    id answers GET, HEAD, an empty merge patch and DELETE on each without a 500. Without
    AUTH_ISSUER, the samples nobody owns (tests/test_ownership.py serves the others to their
    owners)."""
    stored = {shape: samples(shape) for shape in SHAPES}

    async def insert():
        db = await app.state.mongo.database()
        for shape, by_version in stored.items():
            await db[shape.collection].insert_many([d for ds in by_version.values() for d in ds])

    client.portal.call(insert)
    ids = {
        d["_id"]
        for shape, by_version in stored.items()
        for ds in by_version.values()
        for d in ds
        if shape.upgrade(d).get(OWNER) is None
    }
    document = client.get("/api/openapi.json").json()

    listed = set()
    for path in collections(document):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        listed |= {entry.get("id") for entry in response.json()}
    assert ids <= listed

    by_id = [(p, m) for p, m in paths(document).items() if len(PATH_PARAMETER.findall(p)) == 1]
    assert by_id
    for sample_id in sorted(ids):
        for path, methods in by_id:
            url = PATH_PARAMETER.sub(sample_id, path)
            sent = []
            if "GET" in methods:
                sent += [client.get(url), client.head(url)]
            if "PATCH" in methods:
                headers = {"content-type": "application/merge-patch+json"}
                sent.append(client.patch(url, content=b"{}", headers=headers))
            if "DELETE" in methods:
                sent.append(client.delete(url))
            for response in sent:
                assert response.status_code < 500, (response.request.method, url, response.text)
