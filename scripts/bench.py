"""`make bench`: cold start, bundle size and throughput of this app, each beside a floor.

The floor is the peer's app (vercel/examples `python/fastapi`): FastAPI with one untyped route
returning a dict, laid out like this project and built with Vercel's defaults. Both are built
with the same `vercel build` and run under the same Vercel runtime and the same uvicorn, in the
same run and in alternating turns, so a noisy machine moves both. Figures are medians; the
targets are ratios, each the median of the per-turn ratios. Writes the same figures, each saying
what it compares, to .tools/bench.json (git-ignored, never deployed; or --json PATH); exits 1
when a target is missed.
"""

import argparse
import asyncio
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness import ROOT
from harness.dev_server import dev_server
from harness.pins import bytecode_suffix, deployment_python
from harness.rehearsal import build, function_env, invoke
from harness.stats import percentile

FLOOR_APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/api/")
async def read_root():
    return {"message": "Hello World"}
"""

# The build variable behind vercel.json's build.env: bytecode shipped with the function.
BYTECODE = {"VERCEL_PYTHON_COMPILEALL": "1"}
FROM_SOURCE = {"VERCEL_PYTHON_COMPILEALL": "0"}
BUILDS = {  # name: (project, build variables on top of its vercel.json's build.env)
    "app": ("app", {}),
    "app_source": ("app", FROM_SOURCE),
    "floor": ("floor", {}),
    "floor_bytecode": ("floor", BYTECODE),
}
SHIPS_BYTECODE = {"app", "floor_bytecode"}
COLD_STARTS = {  # figure: (app build, floor build, what it compares)
    "cold_start_deploy_s": (
        "app",
        "floor",
        "this app as `vercel deploy` builds it (bytecode, vercel.json's build.env) / "
        "the floor as Vercel builds it by default (from source)",
    ),
    "cold_start_equal_s": ("app", "floor_bytecode", "both built with bytecode"),
    "cold_start_source_s": ("app_source", "floor", "both built from source"),
}
THROUGHPUT_UNITS = {"rps": "requests/s", "p50_ms": "p50 latency, ms", "p99_ms": "p99 latency, ms"}
TARGETS = {  # figure: (bound, "max" | "min"), as a ratio app / floor
    "cold_start_deploy_s": (0.55, "max"),
    "cold_start_equal_s": (1.15, "max"),
    "cold_start_source_s": (1.20, "max"),
    "bundle_mb": (1.5, "max"),
    "root_rps": (0.8, "min"),
}


def make_floor(work: Path) -> Path:
    """The floor project: this project's layout and vercel.json without its build.env (Vercel's
    defaults), requiring FastAPI as pinned in requirements.txt."""
    floor = work / "floor"
    (floor / "api").mkdir(parents=True)
    (floor / "public").mkdir()
    pin = re.search(r"^fastapi\S*", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt names no fastapi"
    (floor / "requirements.txt").write_text(pin[0] + "\n")
    (floor / "api" / "index.py").write_text(FLOOR_APP)
    config = json.loads((ROOT / "vercel.json").read_text())
    config.pop("build", None)
    (floor / "vercel.json").write_text(json.dumps(config, indent=2))
    for name in (".python-version", ".gitignore", "public/index.html"):
        (floor / name).write_text((ROOT / name).read_text())
    subprocess.run(["git", "init", "-q"], cwd=floor, check=True)
    return floor


def bundle_mb(function: Path) -> float:
    return sum(f.stat().st_size for f in function.rglob("*") if f.is_file()) / 1e6


def cold_start_s(function: Path) -> float:
    """Import of the built function plus its first `GET /api/`, under Vercel's runtime."""
    run = invoke(function, [{"method": "GET", "path": "/api/"}], {"VERCEL": "1"})
    assert run.responses[0]["status"] == 200, run.responses[0]
    return run.import_seconds + run.responses[0]["seconds"]


def _importtime(function: Path) -> list[tuple[int, int, str]]:
    """`python -X importtime -c 'import api.index'` in the built function, as Vercel's runtime
    imports it: (self µs, cumulative µs, name) per module."""
    result = subprocess.run(
        [str(deployment_python()), "-S", "-X", "importtime", "-c", "import api.index"],
        cwd=function,
        capture_output=True,
        text=True,
        env=function_env(function, {"VERCEL": "1"}),
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            rows.append((int(fields[0]), int(fields[1]), fields[2].strip()))
    return rows


def import_costs(function: Path) -> dict[str, float]:
    """In ms: the import of api.index in the built function and of what it pulls in (cumulative,
    fastapi as the floor imports it too), and of the project's own modules (self)."""
    rows = _importtime(function)
    cumulative = {name: cum / 1000 for _, cum, name in rows}
    own = sum(self_us for self_us, _, name in rows if name.split(".")[0] in ("api", "backend"))
    return {
        "api.index": cumulative["api.index"],
        "fastapi": cumulative["fastapi"],
        "pydantic.v1": cumulative.get("pydantic.v1", 0.0),
        "pydantic_settings": cumulative.get("pydantic_settings", 0.0),
        "backend": own / 1000,
    }


async def _hammer(port: int, path: str, seconds: float, connections: int) -> list[float]:
    """Keep-alive GETs on `connections` sockets for `seconds`; the latency of each."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (started := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            await reader.readexactly(int(length[1]) if length else 0)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{path} answered {head.splitlines()[0]!r}")
            latencies.append(time.perf_counter() - started)
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return latencies


def throughput(
    projects: dict[str, Path], path: str, runs: int, seconds: float, work: Path
) -> dict[str, dict[str, float]]:
    """Requests per second and p50/p99 latency of `path`, uvicorn serving each `api.index:app`.

    All servers run at once and take turns, one burst each per run, so the bursts of a pair land
    in the same moment of a noisy machine; the ratio is the median of the per-pair ratios.
    """
    latencies: dict[str, list[float]] = {name: [] for name in projects}
    with ExitStack() as servers:
        ports = {}
        for name, project in projects.items():
            log = work / f"{name}-uvicorn.log"
            url = servers.enter_context(dev_server(log, project, "api.index:app"))
            ports[name] = int(url.rsplit(":", 1)[1])
            if path.startswith("/api/status"):
                _seed(ports[name], 100)
            asyncio.run(_hammer(ports[name], path, 0.5, 8))  # warm-up

        def burst(name: str) -> float:
            run = asyncio.run(_hammer(ports[name], path, seconds, 16))
            latencies[name].extend(run)
            return len(run) / seconds

        rps = paired(runs, burst, names=list(projects))
    figures: dict[str, dict[str, float]] = {"rps": rps}
    for key, percent in (("p50_ms", 50), ("p99_ms", 99)):
        figures[key] = {}
        for name, values in latencies.items():
            figures[key][name] = percentile(sorted(values), percent) * 1000
        if "floor" in figures[key]:
            figures[key]["ratio"] = figures[key]["app"] / figures[key]["floor"]
    return figures


def _seed(port: int, count: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(count):
        body = json.dumps({"client_name": f"bench-{i}"})
        connection.request("POST", "/api/status", body, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 201, response.status
    connection.close()


def rounds[T](runs: int, measure: Callable[[str], T], names: Sequence[str]) -> dict[str, list[T]]:
    """`runs` rounds measuring each name once, in turn; every other round in reverse, so no name
    always goes first."""
    values: dict[str, list[T]] = {name: [] for name in names}
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            values[name].append(measure(name))
    return values


def compare(values: dict[str, list[float]], app: str, floor: str) -> dict[str, float]:
    """The medians of `app` and `floor`, and the median of their per-round ratios."""
    ratios = [a / f for a, f in zip(values[app], values[floor], strict=True)]
    return {
        "app": statistics.median(values[app]),
        "floor": statistics.median(values[floor]),
        "ratio": statistics.median(ratios),
    }


def paired(
    runs: int, measure: Callable[[str], float], names: Sequence[str] = ("app", "floor")
) -> dict[str, float]:
    """Median of `runs` alternating measurements of each name, and the median app/floor ratio."""
    values = rounds(runs, measure, names)
    if "floor" in values:
        return compare(values, "app", "floor")
    return {name: statistics.median(values[name]) for name in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="alternating rounds per figure")
    parser.add_argument("--seconds", type=float, default=1.5, help="per throughput burst")
    parser.add_argument("--json", type=Path, default=ROOT / ".tools" / "bench.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        projects = {"app": ROOT, "floor": make_floor(work)}
        print("building the app and the floor with the Vercel CLI...", file=sys.stderr)
        functions = {
            name: build(projects[project], work / f"{name}-build", build_env=build_env)
            for name, (project, build_env) in BUILDS.items()
        }
        for name, function in functions.items():  # what the figures' labels say
            shipped = (function / "api" / "__pycache__" / f"index{bytecode_suffix()}").is_file()
            assert shipped == (name in SHIPS_BYTECODE), f"{name} ships bytecode: {shipped}"

        cold = rounds(args.runs, lambda name: cold_start_s(functions[name]), list(functions))
        figures = {
            figure: {"what": f"s, import + first GET /api/ under Vercel's runtime: {what}"}
            | compare(cold, app, floor)
            for figure, (app, floor, what) in COLD_STARTS.items()
        }
        bundles = {name: bundle_mb(function) for name, function in functions.items()}
        figures["bundle_mb"] = {
            "what": "MB, the built function, both with bytecode",
            "app": bundles["app"],
            "floor": bundles["floor_bytecode"],
            "ratio": bundles["app"] / bundles["floor_bytecode"],
        }
        figures["bundle_source_mb"] = {
            "what": "MB, the built function, both from source",
            "app": bundles["app_source"],
            "floor": bundles["floor"],
            "ratio": bundles["app_source"] / bundles["floor"],
        }
        costs = rounds(5, lambda name: import_costs(functions[name]), ["app", "app_source"])
        own_imports: dict[str, Any] = {
            "what": "ms, -X importtime of api.index in this app's built function, median of 5: "
            "cumulative, except `backend`: the self time of this project's own modules",
        }
        for label, name in (("bytecode", "app"), ("source", "app_source")):
            own_imports[label] = {
                key: statistics.median(c[key] for c in costs[name]) for key in costs[name][0]
            }
        root = throughput(projects, "/api/", args.runs, args.seconds, work)
        listing = throughput({"app": ROOT}, "/api/status?limit=20", 5, args.seconds, work)
        for key, unit in THROUGHPUT_UNITS.items():
            figures[f"root_{key}"] = {"what": f"{unit}, GET /api/ under uvicorn"} | root[key]
            figures[f"status_{key}"] = {
                "what": f"{unit}, GET /api/status?limit=20 under uvicorn, embedded database"
            } | listing[key]

    failed = report(figures, own_imports)
    document = {"runs": args.runs, "figures": figures, "app_import_ms": own_imports}
    args.json.write_text(json.dumps(document, indent=2))
    print(f"\nwritten to {args.json}")
    return 1 if failed else 0


def report(figures: dict[str, dict], own_imports: dict[str, Any]) -> bool:
    print(f"\n{'figure':<26}{'app':>10}{'floor':>10}{'ratio':>8}  target")
    failed = False
    for name, row in figures.items():
        bound, kind = TARGETS.get(name, (None, ""))
        verdict = ""
        if bound is not None:
            ok = row["ratio"] <= bound if kind == "max" else row["ratio"] >= bound
            failed |= not ok
            verdict = f"{'<=' if kind == 'max' else '>='} {bound}  {'ok' if ok else 'MISSED'}"
        floor = f"{row['floor']:>10.3f}" if "floor" in row else f"{'':>10}"
        ratio = f"{row['ratio']:>8.3f}" if "ratio" in row else f"{'':>8}"
        print(f"{name:<26}{row['app']:>10.3f}{floor}{ratio}  {verdict}")
        print(f"  {row['what']}")
    print(f"\n{own_imports['what']}")
    print(f"  {'':<20}{'bytecode':>10}{'source':>10}")
    for key, bytecode_ms in own_imports["bytecode"].items():
        print(f"  {key:<20}{bytecode_ms:>10.1f}{own_imports['source'][key]:>10.1f}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
