"""Each user's items are theirs: with AUTH_ISSUER set, every operation on a path with a parameter,
read from the OpenAPI document (so a route added later is walked too), is a 404 for another
user, exactly like an id that names nothing, and changes nothing; lists, idempotency keys and
the database's queries are per user; items stored before ownership reach nobody until
`make migrate OWNER=<sub>` gives them to one. On every database."""

import uuid

import pytest

from backend.owners import OWNER, owned_collections
from backend.server import INDEXES, SHAPES, create_app
from harness.openapi import PATH_PARAMETER, collections, expected_allow, paths, request_body
from harness.shapes import samples
from scripts import migrate
from tests.conftest import ON_EVERY_DATABASE
from tests.test_migrate import run_migrate

ITEMS = "/api/items"
ITEM_SHAPE = next(shape for shape in SHAPES if shape.collection == "items")


@pytest.fixture
def app_settings(issuer):
    return {"auth_issuer": issuer.url, "auth_audience": issuer.audience}


@pytest.fixture
def as_user(issuer):
    """`as_user(sub, **headers)`: headers that sign a request in as `sub`."""

    def headers(sub: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.token(sub)}", **more}

    return headers


def db_call(app, client, work):
    async def call():
        return await work(await app.state.mongo.database())

    return client.portal.call(call)


def everything_stored(app, client) -> dict[str, list]:
    """Every document of every collection a store declares an index for."""

    async def read(db):
        names = sorted({index.collection for index in INDEXES})
        return {name: await db[name].find().sort("_id", 1).to_list(None) for name in names}

    return db_call(app, client, read)


def send(client, document, path, method, url, headers):
    """`method` on `url` (an instance of `path`), with a body its operation accepts, if any."""
    item = document["paths"][path]
    operation = item.get(method.lower()) or (item.get("get") if method == "HEAD" else None)
    body = request_body(document, operation) if operation else None
    if body is None:
        return client.request(method, url, headers=headers)
    media_type, value = body
    return client.request(method, url, json=value, headers={**headers, "content-type": media_type})


def resource_paths(document) -> dict[str, str]:
    """Each path with a parameter, and the collection whose POST makes what it names."""
    found = {}
    for path in paths(document):
        if PATH_PARAMETER.search(path):
            parent, _, last = path.rpartition("/")
            makes = "post" in document["paths"].get(parent, {})
            assert PATH_PARAMETER.fullmatch(last) and not PATH_PARAMETER.search(parent), (
                f"The walk makes what {path} names with a POST on the path before its last "
                "parameter: teach tests/test_ownership.py how to make it"
            )
            assert makes, f"No POST on {parent} makes what {path} names: teach the walk"
            found[path] = parent
    return found


def create(client, document, collection, headers) -> str:
    """The URL of what a POST on `collection` makes, as the user of `headers`."""
    response = send(client, document, collection, "POST", collection, headers)
    assert response.status_code == 201, (collection, response.text)
    return response.headers.get("location") or f"{collection}/{response.json()['id']}"


def listed(client, document, headers) -> set[str]:
    """The ids every collection of the document lists for the user of `headers`."""
    answers = [client.get(path, headers=headers).json() for path in collections(document)]
    return {entry.get("id") for answer in answers for entry in answer}


@ON_EVERY_DATABASE
def test_another_user_gets_404_on_every_operation_of_every_path_with_a_parameter(
    app, client, as_user
):
    """Alice makes what each path names; Bob sends every method the document lists for it (and
    HEAD), with a valid body: each answer is the 404 of an id that names nothing, his lists do
    not show it, and nothing stored changes. Alice can then do each herself."""
    document = client.get("/api/openapi.json").json()
    walked = resource_paths(document)
    assert walked  # a walk that finds no path checks nothing
    alice, bob = as_user("alice"), as_user("bob")
    for path, collection in walked.items():
        url = create(client, document, collection, alice)
        missing = PATH_PARAMETER.sub(f"no-such-{uuid.uuid4()}", path)
        seen_by_alice = client.get(url, headers=alice).json()
        before = everything_stored(app, client)
        methods = sorted(expected_allow(paths(document)[path]), key=lambda m: (m == "DELETE", m))
        for method in methods:
            answer = send(client, document, path, method, url, bob)
            nothing = send(client, document, path, method, missing, bob)
            assert nothing.status_code == 404, (method, missing, nothing.text)
            assert (answer.status_code, answer.content) == (404, nothing.content), (method, url)
        assert seen_by_alice["id"] not in listed(client, document, bob)
        assert everything_stored(app, client) == before
        assert client.get(url, headers=alice).json() == seen_by_alice
        for method in methods:
            answer = send(client, document, path, method, url, alice)
            assert answer.status_code < 300, (method, url, answer.text)


@ON_EVERY_DATABASE
def test_each_user_lists_only_their_own_items_page_by_page(client, as_user):
    for owner, count in (("alice", 3), ("bob", 2)):
        for n in range(count):
            client.post(ITEMS, json={"title": f"{owner} {n}"}, headers=as_user(owner))
    for owner, count in (("alice", 3), ("bob", 2)):
        titles, url = [], f"{ITEMS}?limit=1"
        while url:
            response = client.get(url, headers=as_user(owner))
            titles += [item["title"] for item in response.json()]
            url = response.links.get("next", {}).get("url")
        assert sorted(titles) == [f"{owner} {n}" for n in range(count)]


@ON_EVERY_DATABASE
def test_an_idempotency_key_is_per_user(client, as_user):
    body, key = {"title": "same body"}, {"Idempotency-Key": "shared-key-1"}
    alice = client.post(ITEMS, json=body, headers=as_user("alice", **key))
    bob = client.post(ITEMS, json=body, headers=as_user("bob", **key))
    assert (alice.status_code, bob.status_code) == (201, 201)
    assert "idempotent-replayed" not in bob.headers
    assert alice.json()["id"] != bob.json()["id"]
    replay = client.post(ITEMS, json=body, headers=as_user("alice", **key))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == alice.json()["id"]
    assert [item["id"] for item in client.get(ITEMS, headers=as_user("bob")).json()] == [
        bob.json()["id"]
    ]


@ON_EVERY_DATABASE
def test_without_a_token_every_operation_of_a_user_route_is_401_and_stores_nothing(app, client):
    document = client.get("/api/openapi.json").json()
    secured = [
        (path, method.upper())
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("security") == [{"UserToken": []}]
    ]
    assert {path for path, _ in secured} >= {ITEMS, f"{ITEMS}/{{item_id}}"}
    for path, method in secured:
        url = PATH_PARAMETER.sub("any-id", path)
        response = send(client, document, path, method, url, {})
        assert response.status_code == 401, (method, url)
        assert response.headers["www-authenticate"] == "Bearer"
    assert not any(everything_stored(app, client).values())


def store_samples(app, client):
    async def insert(db):
        for shape in SHAPES:
            documents = [d for ds in samples(shape).values() for d in ds]
            await db[shape.collection].insert_many(documents)

    db_call(app, client, insert)


def sample_ids_by_owner() -> dict[str | None, set[str]]:
    owners: dict[str | None, set[str]] = {}
    for documents in samples(ITEM_SHAPE).values():
        for document in documents:
            owners.setdefault(ITEM_SHAPE.upgrade(document)[OWNER], set()).add(document["_id"])
    return owners


def ids(response) -> set[str]:
    return {item["id"] for item in response.json()}


@ON_EVERY_DATABASE
def test_every_sample_a_user_owns_is_served_to_that_user_only(app, client, as_user):
    store_samples(app, client)
    owned = {owner: found for owner, found in sample_ids_by_owner().items() if owner is not None}
    assert owned  # tests/shapes/items holds an item stored by a signed-in user
    merge_patch = {"content-type": "application/merge-patch+json"}
    for owner, found in owned.items():
        assert ids(client.get(ITEMS, headers=as_user(owner))) == found
        for item_id in found:
            url = f"{ITEMS}/{item_id}"
            assert client.get(url, headers=as_user("someone-else")).status_code == 404
            assert client.get(url, headers=as_user(owner)).status_code == 200
            assert client.head(url, headers=as_user(owner)).status_code == 200
            patched = client.patch(url, content=b"{}", headers=as_user(owner, **merge_patch))
            assert patched.status_code == 200
            assert client.delete(url, headers=as_user(owner)).status_code == 204


@ON_EVERY_DATABASE
def test_items_stored_before_ownership_reach_no_user_until_make_migrate_gives_them(
    app, client, as_user
):
    store_samples(app, client)
    unowned = sample_ids_by_owner()[None]
    assert len(unowned) >= 2
    alice, bob = as_user("alice"), as_user("bob")
    assert ids(client.get(ITEMS, headers=alice)) == set()
    assert {client.get(f"{ITEMS}/{i}", headers=alice).status_code for i in unowned} == {404}

    def give(apply):
        return db_call(
            app,
            client,
            lambda db: migrate.give_unowned(db, "items", "alice", apply=apply, batch=2),
        )

    assert give(apply=False) == len(unowned)
    assert ids(client.get(ITEMS, headers=alice)) == set()  # a dry run writes nothing
    assert give(apply=True) == len(unowned)
    assert ids(client.get(ITEMS, headers=alice)) == unowned
    assert ids(client.get(ITEMS, headers=bob)) == set()
    assert give(apply=True) == 0  # a second run finds nothing nobody owns


def test_make_migrate_gives_to_every_collection_whose_routes_take_an_owner():
    from backend.server import app

    assert owned_collections(app) == {"items"}


@pytest.mark.parametrize("app", ["motor", "pymongo"], indirect=True)
def test_every_item_command_the_database_receives_names_the_owner(app, client, as_user, mongod):
    """The filter is in the query the server runs, not applied after reading everyone's items;
    the index those queries read leads with the owner."""
    (index,) = [index for index in INDEXES if index.collection == "items"]
    assert index.keys[0] == (OWNER, 1)
    sent = []

    def watch(request) -> bool:
        if request.doc.get(request.command_name) == "items":
            sent.append((request.command_name, request.doc))
        return False  # the store answers

    watching = mongod.server.autoresponds(watch)
    try:
        alice = as_user("alice")
        item = client.post(ITEMS, json={"title": "mine"}, headers=alice).json()
        url = f"{ITEMS}/{item['id']}"
        client.get(ITEMS, headers=alice)
        client.get(url, headers=alice)
        client.patch(url, json={"title": "still mine"}, headers=alice)
        client.delete(url, headers=alice)
    finally:
        watching.cancel()
    owners = []
    for _, command in sent:
        owners += [d.get(OWNER) for d in command.get("documents", [])]
        owners += [command["filter"].get(OWNER)] if "filter" in command else []
        for update in command.get("updates", []):
            owners += [update["q"].get(OWNER), update["u"].get(OWNER)]
        owners += [delete["q"].get(OWNER) for delete in command.get("deletes", [])]
    assert {name for name, _ in sent} >= {"insert", "find", "update", "delete"}
    assert set(owners) == {"alice"}


def test_without_auth_issuer_an_item_a_user_owns_is_served_to_nobody(make_client):
    client = make_client()
    shared = client.post(ITEMS, json={"title": "shared"}).json()

    async def insert_owned():
        db = await client.app.state.mongo.database()
        owned = {**ITEM_SHAPE.to_store({**shared, "_id": "owned-1"}), OWNER: "alice"}
        owned.pop("id")
        await db.items.insert_one(owned)

    client.portal.call(insert_owned)
    assert ids(client.get(ITEMS)) == {shared["id"]}
    assert client.get(f"{ITEMS}/owned-1").status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize("app", ["motor"], indirect=True)
def test_make_migrate_owner_dry_runs_then_gives_the_unowned_items(app, client, as_user):
    store_samples(app, client)
    unowned = sample_ids_by_owner()[None]
    url = app.state.mongo.settings.connection_string

    def command(*args):
        return run_migrate({"MONGO_URL": url}, "--owner", "auth0|alice", *args)

    dry = command()
    assert dry.returncode == 0, dry.stderr
    assert f"items: {len(unowned)} document(s) nobody owns to give to 'auth0|alice'" in dry.stdout
    applied = command("--apply")
    assert applied.returncode == 0, applied.stderr
    assert f"items: {len(unowned)} document(s) nobody owns given to 'auth0|alice'" in (
        applied.stdout
    )
    assert ids(client.get(ITEMS, headers=as_user("auth0|alice"))) == unowned
    again = command("--apply")
    assert "items: 0 document(s) nobody owns given" in again.stdout


def test_the_app_without_a_database_still_refuses_a_bad_token_first(make_settings, issuer):
    """The user comes before the database: a bad token is a 401 even where the database would
    be a 503."""
    from fastapi.testclient import TestClient

    app = create_app(
        make_settings(
            vercel=True, auth_issuer="https://issuer.example", auth_audience=issuer.audience
        )
    )
    with TestClient(app) as client:
        assert client.get(ITEMS).status_code == 401
        assert client.get(ITEMS, headers={"Authorization": "Bearer x.y.z"}).status_code == 401
