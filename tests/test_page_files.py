"""public/index.html as files: its Content-Security-Policy matches it, its Troubleshooting table
is README's, the body limit it and README state is the server's, and it loads nothing from
another origin (the browser tests show it working)."""

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest

from backend.middleware import MAX_BODY_BYTES
from harness import ROOT
from harness.local_vercel import source_pattern
from harness.troubleshooting import entries

PAGE = (ROOT / "public" / "index.html").read_text()
README = (ROOT / "README.md").read_text()
VERCEL_JSON = json.loads((ROOT / "vercel.json").read_text())


def sha256_source(tag: str) -> str:
    (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", PAGE, re.DOTALL)
    return f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"


def expected_csp() -> str:
    return (
        f"default-src 'none'; script-src {sha256_source('script')}; "
        f"style-src {sha256_source('style')}; connect-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def page_headers() -> dict[str, str]:
    rules = [r for r in VERCEL_JSON["headers"] if source_pattern(r["source"]).fullmatch("/")]
    return {header["key"]: header["value"] for rule in rules for header in rule["headers"]}


def test_vercel_json_sets_a_csp_with_the_hashes_of_the_inline_script_and_style():
    assert page_headers()["Content-Security-Policy"] == expected_csp(), (
        f"public/index.html changed: set vercel.json's Content-Security-Policy to\n{expected_csp()}"
    )


def test_the_page_s_csp_covers_every_static_file_and_leaves_the_api_alone():
    # Swagger UI at /api/docs loads its script from a CDN: the page's CSP would break it.
    for rule in VERCEL_JSON["headers"]:
        pattern = source_pattern(rule["source"])
        assert pattern.fullmatch("/") and pattern.fullmatch("/index.html")
        assert not pattern.fullmatch("/api/docs")


def test_the_page_loads_nothing_and_links_nowhere_outside_its_origin():
    assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", PAGE)
    assert PAGE.count("<script>") == 1 and PAGE.count("<style>") == 1
    assert " style=" not in PAGE  # an inline style attribute would need 'unsafe-inline'


class _TableReader(HTMLParser):
    """The rows of the table under id="troubleshooting", cells written back as Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if ("id", "troubleshooting") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.rows[-1].append("")
        elif self.inside and tag == "code":
            self.rows[-1][-1] += "`"

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.inside = False
        elif self.inside and tag == "code":
            self.rows[-1][-1] += "`"

    def handle_data(self, data: str) -> None:
        if self.inside and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def test_the_page_holds_readme_s_troubleshooting_table():
    readme = [[entry.you_see, entry.means, entry.fix] for entry in entries()]
    assert page_table() == readme, "copy README's Troubleshooting rows into public/index.html"


def page_table() -> list[list[str]]:
    reader = _TableReader()
    reader.feed(PAGE)
    return [[cell.strip() for cell in row] for row in reader.rows[1:]]


def test_the_413_rows_state_the_body_limit_in_kib():
    readme = [[entry.you_see, entry.means, entry.fix] for entry in entries()]
    for table in (readme, page_table()):
        (means,) = [means for you_see, means, _ in table if you_see == "413"]
        assert means == f"the body is over {MAX_BODY_BYTES // 1024} KiB"


@pytest.mark.parametrize("text", [README, PAGE], ids=["README.md", "public/index.html"])
def test_every_kib_figure_is_the_body_limit(text):
    assert MAX_BODY_BYTES % 1024 == 0
    assert set(re.findall(r"(\d+) KiB", text)) == {str(MAX_BODY_BYTES // 1024)}


@pytest.mark.parametrize("name", ["Content-Security-Policy", "X-Content-Type-Options"])
def test_page_header_is_set(name):
    assert page_headers()[name]
