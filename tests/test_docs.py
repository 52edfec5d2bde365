"""Every code block of README.md and docs/*.md runs as written, so a snippet cannot rot.

A page's blocks run in page order in a fresh temporary folder holding a copy of
``examples/``, with ``$PIPETUNE_STORAGE`` pointing at ``pipetune.db`` there (the file the
snippets' ``sqlite:///pipetune.db`` names too) and the project's ``.venv/bin`` first on PATH:
``python`` blocks in one namespace, as a reader pasting them into one session would, and
``sh`` blocks with ``bash -e``. A block in any other language, or one that cannot run (it
serves until stopped, it names a machine of yours), stands marked right before it with the
reason, naming the test that covers it::

    <!-- not run: starts a server that runs until stopped; tests/server/test_server.py runs it -->

Setup that a reader does not need to see is a hidden block, run where it stands::

    <!-- setup sh: python examples/demo.py --n-trials 8 -->

This file is also the runner of one page (``python tests/test_docs.py BLOCKS.json``): the
test starts it in the temporary folder, so that a page's Python blocks share one process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = ("python", "sh")
PAGE_TIMEOUT = 240  # seconds; a page runs in well under a minute

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NOT_RUN = re.compile(r"not run:(?P<reason>.*)", re.DOTALL)
_SETUP = re.compile(r"setup (?P<lang>\w+):(?P<code>.*)", re.DOTALL)
_LINK = re.compile(r"\]\((?P<target>[^)\s#]*)(?:#(?P<anchor>[^)\s]*))?\)")
_HEADING = re.compile(r"^#+ (?P<title>.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One code block of a page: where its code starts (1-based line), its language and code,
    and why it does not run (None when it runs)."""

    page: str
    line: int
    lang: str
    code: str
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse(page: str, text: str) -> tuple[list[Block], list[str]]:
    """The code blocks of a Markdown page, hidden setup blocks included, and the problems
    found: a block that neither runs nor says why, a marker without a reason, a marker
    that no block follows."""
    blocks: list[Block] = []
    problems: list[str] = []
    lines = text.splitlines()
    marker: tuple[int, str] | None = None  # (line, reason) of a "not run" awaiting its block

    def drop_marker() -> None:
        nonlocal marker
        if marker is not None:
            problems.append(f"{page}:{marker[0]}: a 'not run' marker with no block after it")
            marker = None

    index = 0
    while index < len(lines):
        line, start = lines[index], index + 1
        fence = _FENCE.match(line)
        if fence:
            indent, mark, lang = fence["indent"], fence["fence"], fence["lang"]
            index += 1
            body = []
            while index < len(lines) and not lines[index].strip().startswith(mark):
                text_line = lines[index]
                body.append(text_line[len(indent):] if text_line.startswith(indent)
                            else text_line.lstrip())
                index += 1
            reason = None if marker is None else marker[1]
            if reason is None and lang not in RUNNABLE:
                problems.append(
                    f"{page}:{start}: a ```{lang} block neither runs (python or sh) nor "
                    "says why: mark it with <!-- not run: REASON --> right before it")
            blocks.append(Block(page, start + 1, lang, "\n".join(body) + "\n", reason))
            marker = None
        elif line.lstrip().startswith("<!--"):
            comment = [line]
            while "-->" not in comment[-1] and index + 1 < len(lines):
                index += 1
                comment.append(lines[index])
            body = "\n".join(comment).strip()[len("<!--"):].rsplit("-->", 1)[0].strip()
            not_run, setup = _NOT_RUN.match(body), _SETUP.match(body)
            drop_marker()
            if not_run:
                reason = " ".join(not_run["reason"].split())
                if not reason:
                    problems.append(f"{page}:{start}: a 'not run' marker gives no reason")
                marker = (start, reason or "?")
            elif setup:
                if setup["lang"] not in RUNNABLE:
                    problems.append(f"{page}:{start}: a setup block must be python or sh")
                code = setup["code"]
                first = start + code[:len(code) - len(code.lstrip())].count("\n")
                blocks.append(Block(page, first, setup["lang"],
                                    textwrap.dedent(code.lstrip("\n")).strip() + "\n"))
        elif line.strip():
            drop_marker()
        index += 1
    drop_marker()
    return blocks, problems


def _page_blocks(page: Path) -> tuple[list[Block], list[str]]:
    return parse(str(page.relative_to(ROOT)), page.read_text(encoding="utf-8"))


def run_page(blocks: list[Block], folder: Path) -> subprocess.CompletedProcess:
    """Runs ``blocks`` (those that run) in ``folder`` with the environment the module
    docstring describes; returns the finished runner process, its output captured."""
    shutil.copytree(ROOT / "examples", folder / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", "pipetune*"))
    plan = folder.parent / f"{folder.name}-blocks.json"
    plan.write_text(json.dumps([asdict(b) for b in blocks if b.not_run is None]))
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PIPETUNE_", "RAY_", "MLFLOW_"))}
    env.update(PIPETUNE_STORAGE=f"sqlite:///{folder / 'pipetune.db'}",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
               PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), str(plan)],
                          cwd=folder, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=PAGE_TIMEOUT)


def _run_plan(plan_path: str) -> int:
    """The runner (see the module docstring): runs each block of the plan in order and stops
    at the first that fails, naming it. Python blocks are compiled under their page's path,
    padded to their line, so a traceback points at the page's own lines."""
    namespace: dict = {"__name__": "__main__"}
    sys.path[0] = os.getcwd()  # as in a reader's session, not this file's folder (tests/)
    for block in (Block(**b) for b in json.loads(Path(plan_path).read_text())):
        print(f"--- {block.where} ({block.lang})", flush=True)
        started = time.monotonic()
        if block.lang == "python":
            source = "\n" * (block.line - 1) + block.code
            try:
                exec(compile(source, str(ROOT / block.page), "exec"), namespace)
            except BaseException:  # noqa: BLE001 - reported with the block's place
                traceback.print_exc()
                print(f"FAILED: the python block at {block.where}", flush=True)
                return 1
        else:
            sys.stdout.flush()
            code = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code],
                                  stdin=subprocess.DEVNULL).returncode
            if code != 0:
                print(f"FAILED: the sh block at {block.where} exited {code}", flush=True)
                return 1
        print(f"--- {block.where} took {time.monotonic() - started:.1f}s", flush=True)
    return 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_runs_or_says_why_not(page: Path) -> None:
    _, problems = _page_blocks(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_to_a_file_of_the_repository_leads_to_one(page: Path) -> None:
    """Links to files and to headings (``docs/storage.md#durability``) lead somewhere."""
    text = _COMMENT.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for link in _LINK.finditer(text):
        target, anchor = link["target"], link["anchor"]
        if ":" in target:  # https://..., mailto:...
            continue
        path = page.parent / target if target else page
        missing_anchor = anchor and path.suffix == ".md" and anchor not in _anchors(path)
        if not path.exists() or missing_anchor:
            broken.append(link.group(0))
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them: lower case, punctuation
    dropped, spaces as hyphens."""
    text = _COMMENT.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)  # no code lines
    return {re.sub(r"[^\w\- ]", "", h["title"].strip().lower()).replace(" ", "-")
            for h in _HEADING.finditer(text)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_code_blocks_run_as_written(page: Path, tmp_path: Path) -> None:
    blocks, _ = _page_blocks(page)
    if not any(b.not_run is None for b in blocks):
        return
    folder = tmp_path / "reader"
    folder.mkdir()
    finished = run_page(blocks, folder)
    assert finished.returncode == 0, finished.stdout[-8000:]


def test_a_block_without_a_way_to_run_or_a_reason_is_a_problem() -> None:
    page = ("```bash\nls\n```\n\n<!-- not run: -->\n```python\nx = 1\n```\n\n"
            "<!-- not run: a picture -->\ntext between\n\n```text\na tree\n```\n")
    _, problems = parse("page.md", page)
    assert problems == [
        "page.md:1: a ```bash block neither runs (python or sh) nor says why: mark it with "
        "<!-- not run: REASON --> right before it",
        "page.md:5: a 'not run' marker gives no reason",
        "page.md:10: a 'not run' marker with no block after it",
        "page.md:13: a ```text block neither runs (python or sh) nor says why: mark it with "
        "<!-- not run: REASON --> right before it",
    ]


def test_marked_and_hidden_blocks_are_read_with_their_place() -> None:
    page = ("Intro.\n\n<!-- setup sh: echo ready -->\n\n<!-- not run: serves until "
            "stopped;\n     tests/server/test_server.py runs it -->\n```sh\npipetune server\n"
            "```\n\n- a list\n\n  ```python\n  print('indented')\n  ```\n")
    blocks, problems = parse("page.md", page)
    assert problems == []
    assert blocks == [
        Block("page.md", 3, "sh", "echo ready\n"),
        Block("page.md", 8, "sh", "pipetune server\n",
              "serves until stopped; tests/server/test_server.py runs it"),
        Block("page.md", 14, "python", "print('indented')\n"),
    ]


def test_a_failing_block_fails_its_page_naming_the_block(tmp_path: Path) -> None:
    blocks, _ = parse("page.md", "```python\nvalue = 41\n```\n\n```python\n"
                                 "assert value == 42, 'not the answer'\n```\n")
    folder = tmp_path / "reader"
    folder.mkdir()
    finished = run_page(blocks, folder)
    assert finished.returncode == 1
    assert "not the answer" in finished.stdout
    assert "FAILED: the python block at page.md:6" in finished.stdout


if __name__ == "__main__":
    sys.exit(_run_plan(sys.argv[1]))
