"""`make migrate` upgrades every stored document to its shape of today: a dry run first, then in
bounded batches, idempotent and resumable, never undoing a write the API made meanwhile, and
never printing the connection string."""

import asyncio
import os
import subprocess
import sys
from collections import Counter

import pytest

from backend.embedded import EmbeddedDatabase
from backend.server import SHAPES
from backend.shapes import VERSION_FIELD
from harness import ROOT
from harness.shapes import samples
from scripts import migrate
from tests.conftest import ON_EVERY_DATABASE


def db_call(app, client, work):
    async def call():
        return await work(await app.state.mongo.database())

    return client.portal.call(call)


def store_samples(app, client):
    async def insert(db):
        for shape in SHAPES:
            await db[shape.collection].insert_many(
                [d for documents in samples(shape).values() for d in documents]
            )

    db_call(app, client, insert)


def stored(app, client):
    async def read(db):
        return {
            shape.collection: await db[shape.collection].find().sort("_id", 1).to_list(None)
            for shape in SHAPES
        }

    return db_call(app, client, read)


def run(app, client, *, apply, batch=500):
    async def each(db):
        return {
            shape.collection: await migrate.migrate_shape(db, shape, apply=apply, batch=batch)
            for shape in SHAPES
        }

    return db_call(app, client, each)


def served(client):
    return {path: client.get(path).json() for path in ("/api/items", "/api/status")}


def to_upgrade(shape):
    """How many samples not marked with today's shape there are, by their shape: what a run
    upgrades."""
    documents = [d for ds in samples(shape).values() for d in ds]
    earlier = [d for d in documents if d.get(VERSION_FIELD, 0) < shape.version]
    return dict(Counter(d.get(VERSION_FIELD, 1) for d in earlier))


TO_UPGRADE = sum(sum(to_upgrade(shape).values()) for shape in SHAPES)
ITEMS = dict((shape.collection, shape) for shape in SHAPES)["items"]


def earlier_shapes(app, client):
    return sum(
        1
        for shape in SHAPES
        for document in stored(app, client)[shape.collection]
        if document.get(VERSION_FIELD) != shape.version
    )


@ON_EVERY_DATABASE
def test_a_dry_run_counts_what_it_would_upgrade_and_writes_nothing(app, client):
    store_samples(app, client)
    before = stored(app, client)
    result = run(app, client, apply=False)
    assert result == {shape.collection: (to_upgrade(shape), []) for shape in SHAPES}
    assert result["items"] == ({1: 2, 2: 2}, [])
    assert stored(app, client) == before


@ON_EVERY_DATABASE
@pytest.mark.parametrize("batch", [1, 2, 500])
def test_applying_upgrades_every_document_in_any_batch_size_and_serves_the_same(app, client, batch):
    store_samples(app, client)
    before = served(client)
    assert earlier_shapes(app, client) == TO_UPGRADE
    run(app, client, apply=True, batch=batch)
    assert earlier_shapes(app, client) == 0
    assert served(client) == before


@ON_EVERY_DATABASE
def test_a_second_run_finds_nothing_to_do(app, client):
    store_samples(app, client)
    run(app, client, apply=True)
    after = stored(app, client)
    assert run(app, client, apply=True) == {shape.collection: ({}, []) for shape in SHAPES}
    assert stored(app, client) == after


class Interrupted(Exception):
    """The run stops here, as if the process were killed."""


@ON_EVERY_DATABASE
def test_a_run_stopped_half_way_is_finished_by_the_next(app, client, monkeypatch):
    store_samples(app, client)
    replace = migrate._replace_if_unchanged
    calls = []

    async def stop_after_one(*args):
        if calls:
            raise Interrupted
        calls.append(args)
        return await replace(*args)

    monkeypatch.setattr(migrate, "_replace_if_unchanged", stop_after_one)
    with pytest.raises(Interrupted):
        run(app, client, apply=True, batch=1)
    assert earlier_shapes(app, client) == TO_UPGRADE - 1
    monkeypatch.setattr(migrate, "_replace_if_unchanged", replace)
    run(app, client, apply=True, batch=1)
    assert earlier_shapes(app, client) == 0


@ON_EVERY_DATABASE
def test_a_change_the_api_made_meanwhile_is_kept(app, client):
    store_samples(app, client)
    old = stored(app, client)["items"][0]
    assert VERSION_FIELD not in old
    changed = client.patch(f"/api/items/{old['_id']}", json={"title": "changed meanwhile"})
    assert changed.status_code == 200

    async def late_replace(db):
        shape = dict((s.collection, s) for s in SHAPES)["items"]
        today = shape.to_store(shape.upgrade(old))
        return await migrate._replace_if_unchanged(db.items, old, today)

    assert db_call(app, client, late_replace) is False
    assert client.get(f"/api/items/{old['_id']}").json() == changed.json()


@ON_EVERY_DATABASE
def test_a_document_it_cannot_upgrade_is_named_and_the_others_are_upgraded(app, client):
    store_samples(app, client)

    broken_id = stored(app, client)["items"][0]["_id"]

    async def store_a_number_as_title(db):
        await db.items.update_one({"_id": broken_id}, {"$set": {"title": 42}})

    db_call(app, client, store_a_number_as_title)
    upgraded, failed = run(app, client, apply=True)["items"]
    assert upgraded == {**to_upgrade(ITEMS), 1: to_upgrade(ITEMS)[1] - 1}
    assert [document_id for document_id, _ in failed] == [broken_id]
    assert "title" in failed[0][1]


def run_migrate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.migrate` as `make migrate` runs it, with `env` on top of this one."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.migrate", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("app", ["motor", "pymongo"], indirect=True)
def test_make_migrate_dry_runs_then_applies_and_never_prints_the_url(app, client, mongod):
    url = app.state.mongo.settings.connection_string
    store_samples(app, client)

    def command(*args):
        return run_migrate({"MONGO_URL": url, "MONGO_DRIVER": app.state.mongo.driver}, *args)

    dry = command()
    assert dry.returncode == 0, dry.stderr
    for version, count in to_upgrade(ITEMS).items():
        assert f"{count} document(s) of shape {version} to upgrade to {ITEMS.version}" in dry.stdout
    assert "Nothing was written" in dry.stdout
    applied = command("--apply", "--batch", "1")
    assert applied.returncode == 0, applied.stderr
    for version, count in to_upgrade(ITEMS).items():
        upgraded = f"{count} document(s) of shape {version} upgraded to {ITEMS.version}"
        assert upgraded in applied.stdout
    assert "(MONGO_URL)" in applied.stdout
    assert earlier_shapes(app, client) == 0
    for output in (dry.stdout, dry.stderr, applied.stdout, applied.stderr):
        assert mongod.password not in output


@pytest.mark.slow
def test_make_migrate_upgrades_the_development_database(tmp_path):
    data_file = tmp_path / "embedded.json"

    async def keep_samples():
        with EmbeddedDatabase(data_file) as embedded:
            for shape in SHAPES:
                documents = [d for ds in samples(shape).values() for d in ds]
                await embedded["app"][shape.collection].insert_many(documents)
            embedded.save()

    asyncio.run(keep_samples())
    kept = data_file.read_bytes()

    def make_migrate(*args):
        return subprocess.run(
            ["make", "-s", "migrate", f"EMBEDDED_DATA_FILE={data_file}", *args],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "MONGODB_URI")},
            capture_output=True,
            text=True,
            timeout=120,
        )

    dry = make_migrate()
    assert dry.returncode == 0, dry.stderr
    assert f"the development database, {data_file}" in dry.stdout
    assert data_file.read_bytes() == kept
    applied = make_migrate("APPLY=1")
    assert applied.returncode == 0, applied.stderr
    assert f"2 document(s) of shape 1 upgraded to {ITEMS.version}" in applied.stdout

    async def shapes_kept():
        with EmbeddedDatabase(data_file) as embedded:
            return {
                document.get(VERSION_FIELD)
                for shape in SHAPES
                for document in await embedded["app"][shape.collection].find().to_list(None)
            }

    assert asyncio.run(shapes_kept()) == {shape.version for shape in SHAPES}


def test_without_any_stored_database_it_says_there_is_nothing_to_migrate(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["migrate"])
    assert migrate.main() == 2
    assert "there is no stored data to migrate" in capsys.readouterr().err
