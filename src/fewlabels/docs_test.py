"""The README and docs: every link resolves, the README stays a product page, and its quick
start runs as written."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    out = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            text = re.sub(r"[^\w\- ]", "", text)
            out.add(text.replace(" ", "-"))
    return out


def _links(page: Path):
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code:
            yield from LINK.findall(line)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        outside = not dest.exists() or ROOT.resolve() not in dest.parents
        if outside or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert broken == [], f"{page.name}: broken links {broken}"


def test_the_readme_is_a_product_page():
    text = (ROOT / "README.md").read_text()
    assert len(text) <= 10_000
    assert text.count("```") % 2 == 0, "an unclosed code fence"
    assert "make demo" in text and "make test" in text
    assert not re.search(r"\bissue \d+|\bsession\b|\b[0-9a-f]{7}\b", text)


def _snippets(kind: str) -> list[str]:
    """The README's code blocks whose fence names `kind` ("" for plain blocks)."""
    blocks, current, info = [], None, ""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```") and current is None:
            current, info = [], line[3:].strip()
        elif line.startswith("```"):
            if info == kind:
                blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_the_readme_quick_start_runs_as_written(tmp_path):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    y = y.astype(object)
    y[1::4] = "?"  # three rows in four keep their label... and one in four is unlabeled
    with open(tmp_path / "data.csv", "w") as f:
        for row, label in zip(x[::2], y[::2], strict=True):
            f.write(",".join(map(str, row)) + f",{label}\n")
    with open(tmp_path / "new.csv", "w") as f:
        for row in x[1::10]:
            f.write(",".join(map(str, row)) + "\n")
    python = _snippets("python")
    assert len(python) == 3
    for code in python:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "model.keras").exists()
    block = next(s for s in _snippets("") if s.startswith("fewlabels fit"))
    commands = [line.split("#")[0].split() for line in block.splitlines()]
    cli = [sys.executable, "-m", "fewlabels"]
    for command in commands[:2]:  # the third needs a folder of photos
        assert command[0] == "fewlabels"
        args = command[1:] + (["--overwrite"] if command[1] == "fit" else [])
        done = subprocess.run([*cli, *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "predictions.csv").read_text().startswith("row,class,p_")
