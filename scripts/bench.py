"""`make bench`: cold start, import time, bundle size and throughput, each beside a floor.

The floor is a minimal FastAPI app with one constant route, built and run exactly like this one
(the same `vercel build`, the same Vercel runtime, the same uvicorn), measured in the same run,
alternating with the app, so a noisy machine moves both. Figures are medians; the targets are
ratios. Writes the same figures to .tools/bench.json (git-ignored, never deployed; or --json
PATH); exits 1 when a target is missed.
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

from harness import ROOT
from harness.dev_server import dev_server
from harness.rehearsal import build, function_env, invoke, python312
from harness.stats import percentile

FLOOR_APP = """from fastapi import FastAPI

app = FastAPI()


@app.get("/api/")
async def read_root() -> dict[str, str]:
    return {"message": "Hello World"}
"""

# Vercel's Python builder ships bytecode when this build variable is set (README, Performance).
PRECOMPILE = {"VERCEL_PYTHON_COMPILEALL": "1"}
TARGETS = {  # figure: (bound, "max" | "min"), as a ratio app / floor
    "cold_start_s": (1.10, "max"),
    "bundle_mb": (1.5, "max"),
    "root_rps": (0.8, "min"),
}


def make_floor(work: Path, name: str = "floor", packages: tuple[str, ...] = ("fastapi",)) -> Path:
    """A project with only the floor app, laid out and configured like this one, requiring
    `packages` as pinned in requirements.txt (the floor's app imports them all)."""
    floor = work / name
    (floor / "api").mkdir(parents=True)
    (floor / "public").mkdir()
    requirements = (ROOT / "requirements.txt").read_text()
    pins = []
    for package in packages:
        pin = re.search(rf"^{package}\S*", requirements, re.M)
        assert pin, f"requirements.txt names no {package}"
        pins.append(pin[0] + "\n")
    (floor / "requirements.txt").write_text("".join(pins))
    extra = [package.replace("-", "_") for package in packages if package != "fastapi"]
    imports = "".join(f"import {module}  # noqa: F401\n" for module in extra)
    (floor / "api" / "index.py").write_text(imports + FLOOR_APP)
    for name in (".python-version", "vercel.json", ".gitignore", "public/index.html"):
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
    """`python -X importtime -c 'import api.index'` in the built function, from source as on
    Vercel (the bundle ships no bytecode): (self µs, cumulative µs, name) per module."""
    result = subprocess.run(
        [str(python312()), "-S", "-X", "importtime", "-c", "import api.index"],
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


def import_ms(function: Path) -> float:
    """The cumulative import time of api.index in the built function, in ms."""
    return next(cum for _, cum, name in _importtime(function) if name == "api.index") / 1000


def heaviest_imports(function: Path, count: int = 8) -> list[tuple[str, float]]:
    """Import time of api.index and all it pulls in, summed by top-level package (self ms)."""
    by_package: dict[str, float] = {}
    for self_us, _, name in _importtime(function):
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us / 1000
    return sorted(by_package.items(), key=lambda item: -item[1])[:count]


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


def paired(
    runs: int, measure: Callable[[str], float], names: Sequence[str] = ("app", "floor")
) -> dict[str, float]:
    """Median of `runs` alternating measurements of each name, and the median app/floor ratio."""
    values: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        for name in names:
            values[name].append(measure(name))
    figures = {name: statistics.median(values[name]) for name in names}
    if "floor" in values:
        ratios = [a / f for a, f in zip(values["app"], values["floor"], strict=True)]
        figures["ratio"] = statistics.median(ratios)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="paired runs per figure")
    parser.add_argument("--seconds", type=float, default=1.5, help="per throughput burst")
    parser.add_argument("--json", type=Path, default=ROOT / ".tools" / "bench.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        floor_project = make_floor(work)
        print("building the app and the floor with the Vercel CLI...", file=sys.stderr)
        projects = {"app": ROOT, "floor": floor_project}
        functions = {name: build(path, work / f"{name}-build") for name, path in projects.items()}
        # What pydantic-settings alone, imported by the floor, costs its cold start.
        settings_floor = make_floor(work, "floor-settings", ("fastapi", "pydantic-settings"))
        settings_function = build(settings_floor, work / "floor-settings-build")
        precompiled = {
            name: build(path, work / f"{name}-precompiled", build_env=PRECOMPILE)
            for name, path in projects.items()
        }

        figures = {
            "bundle_mb": {name: bundle_mb(path) for name, path in functions.items()},
            "cold_start_s": paired(args.runs, lambda name: cold_start_s(functions[name])),
            "cold_start_floor_with_pydantic_settings_s": paired(
                args.runs,
                lambda name: cold_start_s(settings_function if name == "app" else functions[name]),
            ),
            "cold_start_precompiled_s": paired(
                args.runs, lambda name: cold_start_s(precompiled[name])
            ),
            "import_ms": paired(args.runs, lambda name: import_ms(functions[name])),
        }
        figures["bundle_mb"]["ratio"] = figures["bundle_mb"]["app"] / figures["bundle_mb"]["floor"]
        root = throughput(projects, "/api/", args.runs, args.seconds, work)
        listing = throughput({"app": ROOT}, "/api/status?limit=20", 5, args.seconds, work)
        figures.update({f"root_{key}": value for key, value in root.items()})
        figures.update({f"status_{key}": value for key, value in listing.items()})
        heaviest = heaviest_imports(functions["app"])

    failed = report(figures, heaviest)
    args.json.write_text(json.dumps({"figures": figures, "heaviest_imports": heaviest}, indent=2))
    print(f"\nwritten to {args.json}")
    return 1 if failed else 0


def report(figures: dict[str, dict[str, float]], heaviest: list[tuple[str, float]]) -> bool:
    print(f"\n{'figure':<42}{'app':>12}{'floor':>12}{'ratio':>9}  target")
    failed = False
    for name, row in figures.items():
        bound, kind = TARGETS.get(name, (None, ""))
        verdict = ""
        if bound is not None:
            ok = row["ratio"] <= bound if kind == "max" else row["ratio"] >= bound
            failed |= not ok
            verdict = f"{'<=' if kind == 'max' else '>='} {bound}  {'ok' if ok else 'MISSED'}"
        floor = f"{row['floor']:>12.3f}" if "floor" in row else f"{'':>12}"
        ratio = f"{row['ratio']:>9.3f}" if "ratio" in row else f"{'':>9}"
        print(f"{name:<42}{row['app']:>12.3f}{floor}{ratio}  {verdict}")
    print("(cold_start_floor_with_pydantic_settings_s: its `app` is the floor importing")
    print(" pydantic-settings and nothing else of this app.)")
    print("\nimport time of api.index in the built function, by package (self ms, from source):")
    for module, ms in heaviest:
        print(f"  {module:<28}{ms:>8.1f}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
