"""Load test: concurrent creates and paged reads, then proof that no acknowledged create was lost.

`make loadtest` starts the API as `make dev` does (uvicorn, embedded in-memory database) on a
free port, loads it for 10 seconds, checks the stored list and stops the server. To load a
server that is already running (`make dev` in another terminal, or one with MONGO_URL set):

    .venv/bin/python -m scripts.loadtest --url http://127.0.0.1:8000

Every create sends API_KEY as `Authorization: Bearer`: the key in this environment, else (for
the server it starts) a new one it gives that server; it is never printed.

`--seconds` and `--concurrency` set the length and the number of workers. The exit status is 1
when a create was lost or stored twice, the list is out of order, an idempotent retry got
another id, or any request ended in an unexpected status, a 5xx or a transport error.
"""

import argparse
import asyncio
import itertools
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from harness.dev_server import dev_server
from harness.stats import percentile

CREATE_SHARE = 0.7
KEYED_SHARE = 0.2  # of creates: sent with an Idempotency-Key
RETRIED_SHARE = 0.25  # of keyed creates: sent twice, half in turn and half at the same time
READ_LIMIT = 20
READ_PAGES = 3
SCAN_LIMIT = 1000
MAX_SCAN_PAGES = 100_000
REQUEST_TIMEOUT_SECONDS = 30.0

CREATE = "create"
CREATE_KEYED = "create, keyed"
RETRY_KEYED = "retry, keyed"
READ_PAGE = "read page"
SCAN_PAGE = "scan page"
LOAD_KINDS = (CREATE, CREATE_KEYED, RETRY_KEYED, READ_PAGE)


class Sample(NamedTuple):
    kind: str
    status: int | None  # None: a transport error
    seconds: float


class Item(NamedTuple):
    id: str
    client_name: str
    timestamp: datetime

    @classmethod
    def parse(cls, data: Any) -> "Item":
        return cls(data["id"], data["client_name"], datetime.fromisoformat(data["timestamp"]))

    @property
    def order(self) -> tuple[datetime, str]:
        return self.timestamp, self.id


@dataclass
class Load:
    """The traffic and everything the server acknowledged, shared by all workers (one loop)."""

    client: httpx.AsyncClient
    prefix: str
    budget: int
    write_headers: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    acknowledged: dict[str, Item] = field(default_factory=dict)
    transport_errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    retries_with_other_id: int = 0
    replays_unmarked: int = 0
    answered_other_name: int = 0
    read_order_violations: int = 0
    _numbers: Iterator[int] = field(default_factory=itertools.count, init=False)

    async def send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        self.budget -= 1
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self.samples.append(Sample(kind, None, time.perf_counter() - started))
            self.transport_errors[type(exc).__name__] += 1
            return None
        self.samples.append(Sample(kind, response.status_code, time.perf_counter() - started))
        return response

    async def work(self, rng: random.Random, deadline: float) -> None:
        while time.monotonic() < deadline and self.budget > 0:
            if rng.random() < CREATE_SHARE:
                await self.create(rng)
            else:
                await self.read()

    async def create(self, rng: random.Random) -> None:
        name = f"{self.prefix}-{next(self._numbers)}"
        body = {"client_name": name}
        roll = rng.random()
        if roll >= KEYED_SHARE:
            headers = self.write_headers
            created = await self.send(CREATE, "POST", "/api/status", json=body, headers=headers)
            self.acknowledge(created, name)
            return
        headers = {"Idempotency-Key": str(uuid.uuid4()), **self.write_headers}
        first = self.send(CREATE_KEYED, "POST", "/api/status", json=body, headers=headers)
        if roll >= KEYED_SHARE * RETRIED_SHARE:
            self.acknowledge(await first, name)
            return
        again = self.send(RETRY_KEYED, "POST", "/api/status", json=body, headers=headers)
        at_once = roll < KEYED_SHARE * RETRIED_SHARE / 2
        if at_once:
            responses = await asyncio.gather(first, again)
        else:
            responses = (await first, await again)
        ids = {self.acknowledge(response, name) for response in responses}
        if None in ids:
            return  # a failed request, counted with its status: there is no pair to compare
        self.retries += 1
        self.retries_with_other_id += len(ids) > 1
        replayed = [
            r is not None and r.headers.get("Idempotent-Replayed") == "true" for r in responses
        ]
        # In turn, the second answer is the replay; at the same time, either one may be.
        self.replays_unmarked += (sorted(replayed) if at_once else replayed) != [False, True]

    def acknowledge(self, response: httpx.Response | None, name: str) -> str | None:
        if response is None or response.status_code != 201:
            return None
        item = Item.parse(response.json())
        self.answered_other_name += item.client_name != name
        self.acknowledged[item.id] = item
        return item.id

    async def read(self) -> None:
        url = f"/api/status?limit={READ_LIMIT}"
        previous: tuple[datetime, str] | None = None
        for _ in range(READ_PAGES):
            response = await self.send(READ_PAGE, "GET", url)
            if response is None or response.status_code != 200:
                return
            for item in map(Item.parse, response.json()):
                self.read_order_violations += previous is not None and item.order >= previous
                previous = item.order
            link = response.links.get("next")
            if link is None:
                return
            url = link["url"]

    async def scan(self) -> list[Item]:
        """Every stored item, following the `Link` headers from the newest one."""
        items: list[Item] = []
        url = f"/api/status?limit={SCAN_LIMIT}"
        visited: set[str] = set()
        for _ in range(MAX_SCAN_PAGES):
            visited.add(url)
            response = await self.send(SCAN_PAGE, "GET", url)
            if response is None or response.status_code != 200:
                status = "a transport error" if response is None else response.status_code
                raise SystemExit(f"The final scan failed at {url}: {status}.")
            items += map(Item.parse, response.json())
            link = response.links.get("next")
            if link is None:
                return items
            url = link["url"]
            if url in visited:
                raise SystemExit(f"The final scan went round in a circle: {url} came twice.")
        raise SystemExit(f"The final scan did not end within {MAX_SCAN_PAGES} pages.")


@dataclass(frozen=True)
class Verdict:
    listed: int
    listed_from_run: int
    lost: int
    ids_listed_twice: int
    creates_stored_twice: int
    altered: int
    unacknowledged: int
    order_violations: int

    @property
    def duplicated(self) -> int:
        return self.ids_listed_twice + self.creates_stored_twice


def verify(load: Load, listed: list[Item]) -> Verdict:
    by_id = {item.id: item for item in listed}
    ids = Counter(item.id for item in listed)
    from_run = [item for item in by_id.values() if item.client_name.startswith(load.prefix + "-")]
    names = Counter(item.client_name for item in from_run)
    return Verdict(
        listed=len(listed),
        listed_from_run=len(from_run),
        lost=sum(id_ not in by_id for id_ in load.acknowledged),
        ids_listed_twice=sum(count > 1 for count in ids.values()),
        creates_stored_twice=sum(count > 1 for count in names.values()),
        altered=sum(id_ in by_id and by_id[id_] != item for id_, item in load.acknowledged.items()),
        unacknowledged=sum(item.id not in load.acknowledged for item in from_run),
        order_violations=sum(
            newer.order <= older.order for newer, older in itertools.pairwise(listed)
        ),
    )


def report(
    load: Load, verdict: Verdict, seconds: float, concurrency: int, url: str, key_note: str
) -> bool:
    columns = "{:<14} {:>8} {:>7} {:>5} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}"
    headings = ("operation", "requests", "2xx", "4xx", "5xx", "errors")
    print(columns.format(*headings, "p50 ms", "p90 ms", "p99 ms", "max ms"))
    for kind in (*LOAD_KINDS, "all (load)", SCAN_PAGE):
        if kind == "all (load)":
            samples = [s for s in load.samples if s.kind in LOAD_KINDS]
        else:
            samples = [s for s in load.samples if s.kind == kind]
        if not samples:
            continue
        statuses = [s.status for s in samples]
        millis = sorted(s.seconds * 1000 for s in samples)
        print(
            columns.format(
                kind,
                len(samples),
                sum(s is not None and 200 <= s < 300 for s in statuses),
                sum(s is not None and 400 <= s < 500 for s in statuses),
                sum(s is not None and s >= 500 for s in statuses),
                statuses.count(None),
                *(f"{percentile(millis, p):.1f}" for p in (50, 90, 99, 100)),
            )
        )
    requests = sum(s.kind in LOAD_KINDS for s in load.samples)
    expected = {CREATE: 201, CREATE_KEYED: 201, RETRY_KEYED: 201, READ_PAGE: 200, SCAN_PAGE: 200}
    server_errors = sum(s.status is not None and s.status >= 500 for s in load.samples)
    unexpected = sum(
        s.status is not None and s.status < 500 and s.status != expected[s.kind]
        for s in load.samples
    )
    refused = sum(s.status in (401, 403) for s in load.samples)
    transport_errors = sum(load.transport_errors.values())
    errors_by_type = ", ".join(f"{name} {n}" for name, n in load.transport_errors.most_common())
    failures = {
        "lost": verdict.lost,
        "duplicated": verdict.duplicated,
        "altered": verdict.altered,
        "out of order": verdict.order_violations + load.read_order_violations,
        "answered with another name": load.answered_other_name,
        "retries with another id": load.retries_with_other_id,
        "replays not marked": load.replays_unmarked,
        "unexpected 1xx-4xx": unexpected,
        "5xx": server_errors,
        "transport errors": transport_errors,
    }
    rows = [
        ("target", url),
        ("API_KEY", key_note),
        ("load", f"{seconds:.1f} s, {concurrency} workers, {requests} requests"),
        ("throughput", f"{requests / seconds:.1f} req/s"),
        ("creates acknowledged", len(load.acknowledged)),
        ("listed after the run", f"{verdict.listed} ({verdict.listed_from_run} from this run)"),
        ("lost", verdict.lost),
        (
            "duplicated",
            f"{verdict.duplicated} ({verdict.ids_listed_twice} ids listed twice, "
            f"{verdict.creates_stored_twice} creates stored twice)",
        ),
        ("altered", f"{verdict.altered} (listed with another name or timestamp)"),
        (
            "out of order",
            f"{verdict.order_violations} in the final list, "
            f"{load.read_order_violations} in reads during the load",
        ),
        (
            "stored, unacknowledged",
            f"{verdict.unacknowledged} (harmless only after a failed request)",
        ),
        (
            "idempotent retries",
            f"{load.retries}, {load.retries_with_other_id} with another id, "
            f"{load.replays_unmarked} without the right Idempotent-Replayed",
        ),
        ("unexpected 1xx-4xx", f"{unexpected} ({refused} writes refused, 401 or 403)"),
        ("5xx", server_errors),
        ("transport errors", f"{transport_errors} {errors_by_type}".rstrip()),
    ]
    print()
    for label, value in rows:
        print(f"{label:<24} {value}")
    failed = [f"{label} {count}" for label, count in failures.items() if count]
    print(f"\nFAIL: {', '.join(failed)}" if failed else "\nPASS: nothing lost or duplicated")
    if refused:
        print("Writes were refused: set API_KEY to the server's (README, Troubleshooting).")
    return not failed


async def run(
    url: str, api_key: str, key_note: str, seconds: float, concurrency: int, max_requests: int
) -> bool:
    limits = httpx.Limits(
        max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency
    )
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        write_headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        prefix = f"load-{uuid.uuid4().hex[:12]}"
        load = Load(client, prefix, budget=max_requests, write_headers=write_headers)
        started = time.monotonic()
        await asyncio.gather(
            *(load.work(random.Random(), started + seconds) for _ in range(concurrency))
        )
        elapsed = time.monotonic() - started
        verdict = verify(load, await load.scan())
    return report(load, verdict, elapsed, concurrency, url, key_note)


def check_embedded(url: str) -> None:
    health = httpx.get(f"{url}/api/health", timeout=5)
    if health.status_code != 200 or health.json().get("database") != "embedded":
        raise SystemExit(f"Expected the embedded database, got {health.status_code} {health.text}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Load the API, then prove that no acknowledged create was lost."
    )
    parser.add_argument("--url", help="load this running server instead of starting one")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the load")
    parser.add_argument("--concurrency", type=int, default=32, help="number of workers")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="stop the load after this many"
    )
    args = parser.parse_args()
    if args.seconds <= 0 or args.concurrency < 1 or args.max_requests < 1:
        parser.error("--seconds, --concurrency and --max-requests must be positive")
    load = (args.seconds, args.concurrency, args.max_requests)
    api_key = os.environ.get("API_KEY", "").strip()
    if args.url:
        note = "sent with every create" if api_key else "not set here: creates sent without it"
        return 0 if asyncio.run(run(args.url.rstrip("/"), api_key, note, *load)) else 1
    note = "sent with every create" + ("" if api_key else ", made for the server started here")
    api_key = api_key or secrets.token_urlsafe(32)
    descriptor, name = tempfile.mkstemp(prefix="loadtest-uvicorn-", suffix=".log")
    os.close(descriptor)
    log = Path(name)
    passed = False
    try:
        with dev_server(log, env={"API_KEY": api_key}) as url:
            check_embedded(url)
            passed = asyncio.run(run(url, api_key, note, *load))
    finally:
        if passed:
            log.unlink()
        else:
            print(f"The server's log: {log}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
