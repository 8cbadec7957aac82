"""A MongoDB server for tests: the real drivers, over a real loopback socket, against data.

`Mongod(*, replica_set=None, port=None, user="admin", password="secret")` starts mockupdb on
127.0.0.1 and answers every command from an in-memory mongomock store, so Motor's
`AsyncIOMotorClient` and PyMongo's `AsyncMongoClient` run unchanged:

    with Mongod() as mongod:  # or mongod.stop(): it blocks about 1 s, so tests stop in a thread
        client = AsyncMongoClient(mongod.url(), tz_aware=True, timeoutMS=3000)
        fault = mongod.server.autoresponds(OpMsg("find", "things"), lambda r: r.hangup())
        fault.cancel()  # the store answers again

- `url(db="app", *, user=None, password=None, **options)`: a connection string with
  `authMechanism=PLAIN` (mockupdb cannot do SCRAM) and `replicaSet` when the server is one.
  saslStart checks the credentials: a wrong password is AuthenticationFailed (code 18).
- `server`: the MockupDB, for fault injection. A responder pushed with `autoresponds` wins over
  the store (the newest wins); one that returns False falls through to the store. mockupdb
  handles one request at a time, so a responder that sleeps stalls every connection.
- `connections()`: distinct connections that sent more than the handshake: the drivers' pools,
  not their monitors (which only send hello). Counted before any responder, faults included.
- `Mongod(replica_set="rs0")` answers hello as the primary of a one-member replica set with
  sessions, so the drivers send `lsid`/`txnNumber` and retry retryable writes. hello never
  offers helloOk, so the drivers keep sending isMaster: `CommandBase("ismaster")` matches it.

Commands: hello/isMaster, saslStart (PLAIN), ping, buildInfo, endSessions, killCursors,
createIndexes (unique, expireAfterSeconds...), listIndexes, insert, find (filter, sort,
projection, skip, limit; find_one too), aggregate (what mongomock runs; count_documents uses
it), count (query only: estimated_document_count), update (operators or a replacement, multi,
upsert), delete, drop, and findAndModify, what find_one_and_update/_replace/_delete send:
`query`, `sort`, `fields`, `update` (operators or a replacement) or `remove: true`, `new`
(the document after the change; default before: the drivers send `new`, never
`returnDocument`), `upsert` (default false); a filter that matches nothing is `value: null`
with `lastErrorObject: {n: 0, updatedExisting: false}` (`{n: 0}` for a remove); a pipeline
update, `arrayFilters`, `collation` and `let` are refused, naming them. Results come back whole
in `firstBatch` with cursor id 0, so no getMore follows. A duplicate `_id` or unique key is a
writeErrors entry with code 11000 (findAndModify: the command's error, code 11000), which the
drivers raise as DuplicateKeyError. It refuses what a mongod refuses and mongomock applied
(backend/strict_mongomock.py, with a mongod's code and message): an update naming one path in
two operators, or a path and its prefix (40, ConflictingUpdateOperators, even when no document
matches), a change of `_id` (66, ImmutableField), a top-level field starting with `$` written
into a document (52, DollarPrefixedFieldName): a writeErrors entry for update (WriteError),
the command's error for findAndModify (OperationFailure); and an update that fails half-way
changes nothing. Any other command is a CommandNotFound (59) error naming it, and a handler's
exception an error reply: never a hang. Each command runs whole before
the next starts (mockupdb answers one request at a time), so findAndModify is atomic.
Datetimes are stored naive (UTC), as BSON carries them; clients with tz_aware=True read UTC.
mongomock applies TTL indexes at every access (a real mongod every 60 s) and warns that
`datetime.utcnow()` is deprecated.
"""

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import quote, urlencode

import mongomock
from bson import Int64
from mockupdb import OP_MSG_FLAGS, MockupDB, OpMsg, Request
from pymongo.errors import OperationFailure, WriteError

from backend.strict_mongomock import CODE_NAMES, StrictMongoClient, refuse_conflicts

HANDSHAKE = {"hello", "ismaster"}
Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]  # (collection or None, command)


class _Refused(Exception):
    """A command's error reply, raised by its handler."""

    def __init__(self, code: int, code_name: str, message: str) -> None:
        super().__init__(message)
        self.reply = {"ok": 0, "code": code, "codeName": code_name, "errmsg": message}


class _Server(MockupDB):
    """MockupDB that keeps one observer on top of every responder pushed after it."""

    observer: Any = None

    def _insert_responder(self, where: str, matcher: Any, *args: Any, **kwargs: Any) -> Any:
        responder = super()._insert_responder(where, matcher, *args, **kwargs)
        if self.observer is not None and self._autoresponders[-1] is not self.observer:
            self._autoresponders.remove(self.observer)
            self._autoresponders.append(self.observer)
        return responder


class Mongod:
    """A running server (see the module docstring); `stop()` it, or use it as a context."""

    def __init__(
        self,
        *,
        replica_set: str | None = None,
        port: int | None = None,
        user: str = "admin",
        password: str = "secret",
    ) -> None:
        self.replica_set, self.user, self.password = replica_set, user, password
        self._store: mongomock.MongoClient = StrictMongoClient()
        self._lock = threading.Lock()
        self._clients: set[int] = set()
        self._commands: dict[str, Handler] = {
            "createindexes": self._create_indexes,
            "listindexes": self._list_indexes,
            "insert": lambda c, d: self._write(c, d, "documents", self._insert),
            "update": lambda c, d: self._write(c, d, "updates", self._update),
            "delete": lambda c, d: self._write(c, d, "deletes", self._delete),
            "find": self._find,
            "findandmodify": self._find_and_modify,
            "aggregate": lambda c, d: self._cursor(c, list(c.aggregate(d["pipeline"]))),
            "count": lambda c, d: {"n": c.count_documents(d.get("query") or {})},
            "drop": lambda c, d: c.drop() or {},
            "ping": lambda c, d: {},
            "endsessions": lambda c, d: {},
            "buildinfo": lambda c, d: {"version": "7.0.0", "versionArray": [7, 0, 0, 0]},
            "killcursors": lambda c, d: {"cursorsKilled": d.get("cursors", [])},
        }
        self.server = _Server(port=port)
        self.server.append_responder(self._answer)  # the last resort: every pushed one wins
        self.server.observer = self.server.autoresponds(self._observe)
        self.port: int = self.server.run()

    def url(
        self,
        db: str = "app",
        *,
        user: str | None = None,
        password: str | None = None,
        **options: str,
    ) -> str:
        user = quote(self.user if user is None else user, safe="")
        password = quote(self.password if password is None else password, safe="")
        query = {"authMechanism": "PLAIN"} | (
            {"replicaSet": self.replica_set} if self.replica_set else {}
        )
        return (
            f"mongodb://{user}:{password}@127.0.0.1:{self.port}/{db}?{urlencode(query | options)}"
        )

    def connections(self) -> int:
        with self._lock:
            return len(self._clients)

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _observe(self, request: Request) -> bool:
        if (getattr(request, "command_name", None) or "").lower() not in HANDSHAKE:
            with self._lock, contextlib.suppress(OSError):  # OSError: the client is gone
                self._clients.add(request.client_port)
        return False  # observed, not answered

    def _answer(self, request: Request) -> bool:
        name = getattr(request, "command_name", None) or type(request).__name__
        try:
            with self._lock:
                reply = self._command(name.lower(), request.doc, request)
        except _Refused as refusal:
            reply = refusal.reply
        except OperationFailure as exc:  # mongomock's
            reply = {
                **(exc.details or {}),
                "ok": 0,
                "code": exc.code or 8,
                "errmsg": f"{name}: {exc}",
            }
        except Exception as exc:  # a mockupdb thread must not die: the driver would hang
            reply = {"ok": 0, "code": 8, "errmsg": f"{name}: {type(exc).__name__}: {exc}"}
        if isinstance(request, OpMsg) and request.flags & OP_MSG_FLAGS["moreToCome"]:
            return True  # an unacknowledged write (w=0) expects no reply
        with contextlib.suppress(OSError):  # the client gave up and closed the connection
            request.replies(reply)
        return True

    def _command(self, name: str, doc: dict[str, Any], request: Request) -> dict[str, Any]:
        if name in HANDSHAKE:
            return self._hello()
        if name == "saslstart":
            if doc.get("mechanism") != "PLAIN":
                raise _Refused(2, "BadValue", f"{doc.get('mechanism')}: use authMechanism=PLAIN")
            if bytes(doc["payload"]) != f"\0{self.user}\0{self.password}".encode():
                raise _Refused(18, "AuthenticationFailed", "Authentication failed.")
            return {"done": True, "conversationId": 1, "payload": b""}
        if (handler := self._commands.get(name)) is None:
            raise _Refused(59, "CommandNotFound", f"no such command: '{next(iter(doc))}'")
        database = self._store[doc.get("$db") or request.namespace.split(".")[0]]
        target = doc[next(iter(doc))]  # the collection, for the commands that name one
        return handler(database[target] if isinstance(target, str) and target else None, doc)

    def _hello(self) -> dict[str, Any]:
        hello: dict[str, Any] = {"ismaster": True, "isWritablePrimary": True, "maxWireVersion": 21}
        if self.replica_set is not None:
            host = f"127.0.0.1:{self.port}"
            hello |= {"setName": self.replica_set, "hosts": [host], "primary": host, "me": host}
            hello["logicalSessionTimeoutMinutes"] = 30  # sessions: lsid, retryable writes
        return hello

    @staticmethod
    def _create_indexes(collection: mongomock.Collection, doc: dict[str, Any]) -> dict[str, Any]:
        before = len(collection.index_information())
        for index in doc["indexes"]:
            options = {key: value for key, value in index.items() if key not in ("key", "v")}
            collection.create_index(list(index["key"].items()), **options)
        return {"numIndexesBefore": before, "numIndexesAfter": len(collection.index_information())}

    def _list_indexes(
        self, collection: mongomock.Collection, doc: dict[str, Any]
    ) -> dict[str, Any]:
        if collection.name not in collection.database.list_collection_names():
            raise _Refused(26, "NamespaceNotFound", f"ns does not exist: {collection.full_name}")
        return self._cursor(collection, list(collection.list_indexes()))

    def _find(self, collection: mongomock.Collection, doc: dict[str, Any]) -> dict[str, Any]:
        sort = list((doc.get("sort") or {}).items()) or None
        found = collection.find(
            doc.get("filter") or {},
            doc.get("projection"),
            sort=sort,
            skip=doc.get("skip", 0),
            limit=abs(doc.get("limit", 0)),
        )
        return self._cursor(collection, list(found))

    @staticmethod
    def _find_and_modify(collection: mongomock.Collection, doc: dict[str, Any]) -> dict[str, Any]:
        """One document found, changed or removed, and returned, as a mongod does it."""
        query, fields, update = doc.get("query") or {}, doc.get("fields"), doc.get("update")
        remove, upsert, new = doc.get("remove", False), doc.get("upsert", False), doc.get("new")
        for refused in ("arrayFilters", "collation", "let"):
            if refused in doc:
                raise _Refused(2, "BadValue", f"findAndModify: harness.mongod has no {refused}")
        if remove and (update is not None or upsert or new):
            raise _Refused(9, "FailedToParse", "remove=true goes with no update, upsert or new")
        if not remove and not isinstance(update, dict):
            message = "an update document (operators or a replacement) or remove=true"
            raise _Refused(9, "FailedToParse", f"findAndModify takes {message}")
        sort = list((doc.get("sort") or {}).items()) or None
        try:
            if not remove and all(key.startswith("$") for key in update):
                refuse_conflicts(update)  # whether or not a document matches, as a mongod
            found = collection.find_one(query, sort=sort)
            if found is None and not upsert:
                missed: dict[str, Any] = {"n": 0} if remove else {"n": 0, "updatedExisting": False}
                return {"lastErrorObject": missed, "value": None}
            by_id = None if found is None else {"_id": found["_id"]}
            before = None if by_id is None else collection.find_one(by_id, fields)
            if remove:
                collection.delete_one(by_id)
                return {"lastErrorObject": {"n": 1}, "value": before}
            if all(key.startswith("$") for key in update):
                result = collection.update_one(by_id or query, update, upsert=upsert)
            else:
                result = collection.replace_one(by_id or query, update, upsert=upsert)
        except WriteError as exc:  # DuplicateKeyError is one; a mongod fails the command
            if exc.code == 11000:
                message = f"E11000 duplicate key error collection: {collection.full_name}"
                raise _Refused(11000, "DuplicateKey", message) from None
            if exc.code in CODE_NAMES:
                raise _Refused(exc.code, CODE_NAMES[exc.code], exc.details["errmsg"]) from None
            raise
        changed: dict[str, Any] = {"n": 1, "updatedExisting": by_id is not None}
        if by_id is None:
            by_id = {"_id": result.upserted_id}
            changed["upserted"] = result.upserted_id
        return {
            "lastErrorObject": changed,
            "value": collection.find_one(by_id, fields) if new else before,
        }

    @staticmethod
    def _cursor(collection: mongomock.Collection, documents: list[Any]) -> dict[str, Any]:
        return {"cursor": {"id": Int64(0), "ns": collection.full_name, "firstBatch": documents}}

    @staticmethod
    def _write(
        collection: mongomock.Collection,
        doc: dict[str, Any],
        key: str,
        apply: Callable[[mongomock.Collection, Any], dict[str, Any]],
    ) -> dict[str, Any]:
        """An insert, update or delete: a writeError per failed item (11000 for a duplicate)."""
        reply: dict[str, Any] = {"n": 0}
        errors = []
        for index, item in enumerate(doc[key]):
            try:
                counts = apply(collection, item)
            except WriteError as exc:  # DuplicateKeyError is one
                message = f"E11000 duplicate key error collection: {collection.full_name}"
                errmsg = (
                    message if exc.code == 11000 else (exc.details or {}).get("errmsg", str(exc))
                )
                errors.append({"index": index, "code": exc.code or 2, "errmsg": errmsg})
                if doc.get("ordered", True):
                    break
                continue
            if (upserted := counts.pop("upserted", None)) is not None:
                reply.setdefault("upserted", []).append({"index": index, "_id": upserted})
            for field, count in counts.items():
                reply[field] = reply.get(field, 0) + count
        return reply | ({"writeErrors": errors} if errors else {})

    @staticmethod
    def _insert(collection: mongomock.Collection, document: dict[str, Any]) -> dict[str, Any]:
        collection.insert_one(document)
        return {"n": 1}

    @staticmethod
    def _update(collection: mongomock.Collection, update: dict[str, Any]) -> dict[str, Any]:
        query, change, upsert = update["q"], update["u"], update.get("upsert", False)
        if isinstance(change, dict) and not all(key.startswith("$") for key in change):
            result = collection.replace_one(query, change, upsert=upsert)
        elif update.get("multi"):
            result = collection.update_many(query, change, upsert=upsert)
        else:
            result = collection.update_one(query, change, upsert=upsert)
        counts = {"n": result.matched_count, "nModified": result.modified_count}
        if result.upserted_id is not None:
            counts |= {"n": 1, "upserted": result.upserted_id}
        return counts

    @staticmethod
    def _delete(collection: mongomock.Collection, delete: dict[str, Any]) -> dict[str, Any]:
        remove = collection.delete_one if delete.get("limit") == 1 else collection.delete_many
        return {"n": remove(delete["q"]).deleted_count}
