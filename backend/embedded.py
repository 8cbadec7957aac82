"""The embedded database: mongomock-motor in this process, when no connection string is set. With
a data file (EMBEDDED_DATA_FILE, which `make dev` sets) its data outlives the process.

    with EmbeddedDatabase(Path(".data/embedded.json")) as embedded:  # read, and locked
        await embedded["app"]["items"].update_one(...)
        embedded.save()  # written whole, atomically: what a crash leaves is this or the last

Relaxed extended JSON (bson.json_util), so every BSON value reads back as it was stored
(dates, datetimes, ObjectIds, binary UUIDs, decimals; an Int64 reads back as an int). One
process at a time: a second is refused, naming the file, instead of each writing over the
other's changes. A file that cannot be read is refused, never written over.
"""

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.exceptions import DatabaseUnavailable

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
START_EMPTY = "Delete it to start empty (`make dev FRESH=1` does)."


class EmbeddedDatabase:
    """An embedded client (`embedded[name]` is a database) and the file that keeps its data:
    None keeps it in memory only."""

    def __init__(self, data_file: Path | None = None) -> None:
        try:
            from mongomock_motor import AsyncMongoMockClient

            from backend.strict_mongomock import StrictMongoClient
        except ImportError:
            raise DatabaseUnavailable(
                "MONGO_URL is not set and the embedded database (mongomock-motor) is not "
                "installed: set MONGO_URL, or run `make dev`, which installs it."
            ) from None
        self.data_file = data_file and data_file.resolve()  # what every message names
        self._store = StrictMongoClient(tz_aware=True)
        self.client = AsyncMongoMockClient(mock_mongo_client=self._store)
        self._lock: int | None = None
        if self.data_file is not None:
            self._lock = _lock(self.data_file)
            try:
                self._load(self.data_file)
            except BaseException:
                self._unlock()  # unsaved: the file stays as it was
                raise

    def __getitem__(self, name: str) -> Any:
        return self.client[name]

    def save(self) -> None:
        """Write every database to the data file, if there is one: a new file, fsynced, then
        renamed over the old one, so the file is always one whole save."""
        if self.data_file is None:
            return
        from bson import json_util

        text = json_util.dumps(self._dump(), json_options=_json_options())
        written = self.data_file.with_name(f".{self.data_file.name}.saving")
        with written.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(written, self.data_file)
        folder = os.open(self.data_file.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)

    def close(self) -> None:
        """Let another process open the file. Unsaved changes are dropped: what a server
        answered was saved before it answered, and a stopping server must not write over a file
        deleted meanwhile (`make dev FRESH=1` right after stopping one)."""
        self.client.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None
            self.data_file = None  # closed: nothing more to save

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _dump(self) -> dict[str, Any]:
        """{database: {collection: {"indexes": [...], "documents": [...]}}}"""
        dumped: dict[str, Any] = {}
        for name in self._store.list_database_names():
            database = self._store[name]
            dumped[name] = {
                collection: {
                    "indexes": [
                        {"name": index_name, **index}
                        for index_name, index in database[collection].index_information().items()
                        if index_name != "_id_"  # every collection's own
                    ],
                    "documents": list(database[collection].find()),
                }
                for collection in database.list_collection_names()
            }
        return dumped

    def _load(self, data_file: Path) -> None:
        if not data_file.exists():
            return  # the first save makes it
        from bson import json_util

        try:
            data = json_util.loads(
                data_file.read_text(encoding="utf-8"), json_options=_json_options()
            )
            for name, collections in data.items():
                for collection_name, stored in collections.items():
                    collection = self._store[name][collection_name]
                    for index in stored["indexes"]:
                        options = {k: v for k, v in index.items() if k not in ("key", "v", "ns")}
                        collection.create_index([tuple(key) for key in index["key"]], **options)
                    if stored["documents"]:
                        collection.insert_many(stored["documents"])
        except Exception as exc:
            raise DatabaseUnavailable(
                f"The development database {data_file} could not be read "
                f"({type(exc).__name__}: {exc}); it was left as it is. Repair it, or move it "
                f"away to keep it. {START_EMPTY}"
            ) from None


class SaveEmbeddedData:
    """ASGI middleware: after any request but GET, HEAD and OPTIONS, the embedded database is
    saved before the response starts, so a write a client saw succeed survives the server being
    stopped right after. Every route gets it, however it was added."""

    def __init__(self, app: ASGIApp, save: Callable[[], None]) -> None:
        self.app, self.save = app, save

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        saved = False

        async def send_after_saving(message: Message) -> None:
            nonlocal saved
            if message["type"] == "http.response.start" and not saved:
                saved = True
                self.save()
            await send(message)

        try:
            await self.app(scope, receive, send_after_saving)
        finally:
            if not saved:  # the route raised: what it wrote before is kept too
                saved = True
                self.save()


def _lock(data_file: Path) -> int:
    """An exclusive lock on `data_file`'s lock file, held until closed (or the process ends)."""
    import fcntl

    try:
        data_file.parent.mkdir(parents=True, exist_ok=True)
        lock_file = data_file.with_name(f"{data_file.name}.lock")
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"The development database {data_file} cannot be written ({type(exc).__name__}: "
            f"{exc}): set EMBEDDED_DATA_FILE to a file in a folder you can write to."
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DatabaseUnavailable(
            f"The development database {data_file} is in use by another process (another "
            "`make dev`, or a script): stop it, or set EMBEDDED_DATA_FILE to another file."
        ) from None
    return descriptor


def _json_options() -> Any:
    from bson.json_util import RELAXED_JSON_OPTIONS

    return RELAXED_JSON_OPTIONS.with_options(tz_aware=True)
