"""README and docs/ hold to what they describe: each `curl` example prints what it shows, against
`make dev`'s server; each relative link leads to a file (and heading) that exists; each `make`
target named is one the Makefile has."""

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import ROOT
from harness.dev_server import dev_server
from harness.issuer import Issuer
from tests.conftest import TEST_API_KEY

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where the examples send their requests: `make dev`'s address. The test's server replaces it.
MAKE_DEV = "localhost:8000"
# In a line of shown output, stands for whatever differs from run to run (an id, a time).
ANYTHING = "\N{HORIZONTAL ELLIPSIS}"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@dataclass
class Example:
    """A `curl` command of a ```bash block and the `# ` lines after it: what it prints."""

    command: str
    shown: list[str] = field(default_factory=list)

    def matches(self, output: str) -> bool:
        lines = output.splitlines()
        return len(lines) == len(self.shown) and all(
            re.fullmatch(".*".join(map(re.escape, shown.split(ANYTHING))), line)
            for shown, line in zip(self.shown, lines, strict=True)
        )


def examples(block: str) -> list[Example]:
    found: list[Example] = []
    current: Example | None = None
    for line in block.splitlines():
        if current is not None and current.command.endswith("\\") and not current.shown:
            current.command += f"\n{line}"
        elif current is not None and line.startswith("# "):
            current.shown.append(line.removeprefix("# "))
        elif line.startswith("curl "):
            current = Example(line)
            found.append(current)
        else:
            current = None
    return found


def bash_blocks() -> list[tuple[str, list[Example]]]:
    """Each ```bash block that holds a curl command, as (its page and number, its examples)."""
    blocks = []
    for page in PAGES:
        fenced = [body for language, body in FENCE.findall(page.read_text()) if language == "bash"]
        for number, block in enumerate(fenced, 1):
            if found := examples(block):
                blocks.append((f"{page_id(page)}-{number}", found))
    return blocks


BASH_BLOCKS = bash_blocks()


def test_readme_shows_curl_examples_with_their_output():
    readme = [found for name, found in BASH_BLOCKS if name.startswith("README.md-")]
    assert readme, "README's ```bash blocks hold no curl command"
    for found in readme:
        assert all(example.shown for example in found), "each example shows what it prints"


@pytest.fixture
def make_dev_with_a_key(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`make dev`'s server on a fresh embedded database, with API_KEY set as a user would, and
    what the reader has exported."""
    with dev_server(tmp_path / "server.log", env={"API_KEY": TEST_API_KEY}) as url:
        yield url.removeprefix("http://"), {"API_KEY": TEST_API_KEY}


@pytest.fixture
def make_dev_signed_in(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`make dev` with AUTH_ISSUER set to a test provider, as `make issuer` serves one, and the
    tokens of alice and bob that `make token` prints, exported as TOKEN and BOB_TOKEN."""
    with Issuer() as issuer:
        env = {"AUTH_ISSUER": issuer.url, "AUTH_AUDIENCE": issuer.audience}
        with dev_server(tmp_path / "server.log", env=env) as url:
            tokens = {"TOKEN": issuer.token("alice"), "BOB_TOKEN": issuer.token("bob")}
            yield url.removeprefix("http://"), tokens


@pytest.mark.slow
@pytest.mark.parametrize(("name", "found"), BASH_BLOCKS, ids=[name for name, _ in BASH_BLOCKS])
def test_each_curl_example_prints_what_the_page_shows(name, found, request):
    """The commands of a block run in order, as a reader pastes them, with API_KEY exported; a
    block that sends $TOKEN runs against `make dev` signed in, with the users' tokens exported."""
    signed_in = any("$TOKEN" in example.command for example in found)
    server, exported = request.getfixturevalue(
        "make_dev_signed_in" if signed_in else "make_dev_with_a_key"
    )
    for example in found:
        assert MAKE_DEV in example.command, f"send it to make dev's {MAKE_DEV}: {example.command}"
        result = subprocess.run(
            ["bash", "-c", example.command.replace(MAKE_DEV, server)],
            env={**os.environ, **exported},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        shown = "\n".join(example.shown)
        assert example.matches(result.stdout), (
            f"{name}: {example.command}\nshows:\n{shown}\nprints:\n{result.stdout}"
        )


def test_an_example_matches_its_shown_output_with_placeholders_and_nothing_more():
    example = Example("curl -s x", [f'{{"id":"{ANYTHING}","n":1}}'])
    assert example.matches('{"id":"a-b-c","n":1}')
    assert not example.matches('{"id":"a-b-c","n":2}')
    assert not example.matches('{"id":"a-b-c","n":1}\nmore')
    assert not example.matches("")


def prose(text: str) -> str:
    """The page without its code: fenced blocks and code spans."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for the page's headings."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def leads_nowhere(page: Path, link: str) -> bool:
    """Whether a relative link names a missing file, or a heading its Markdown file lacks."""
    path, _, anchor = link.partition("#")
    target = (page.parent / path).resolve() if path else page
    if not target.is_file():
        return True
    return bool(anchor) and target.suffix == ".md" and anchor not in anchors(target)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    links = re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text()))
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]  # not https:, mailto:
    if page.name == "README.md":
        assert relative  # it links to docs/: a parser that finds no link checks nothing
    assert [link for link in relative if leads_nowhere(page, link)] == []


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M))


def named_targets(text: str) -> set[str]:
    code = [body for _, body in FENCE.findall(text)] + re.findall(r"`([^`\n]*)`", text)
    return {target for snippet in code for target in re.findall(r"\bmake ([a-z][\w-]*)", snippet)}


def test_readme_names_the_three_commands():
    assert {"dev", "smoke", "test"} <= named_targets((ROOT / "README.md").read_text())


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_make_target_named_is_in_the_makefile(page):
    assert named_targets(page.read_text()) - make_targets() == set()
