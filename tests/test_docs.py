"""The documentation stays true: every `moccasin-bench ...` command in the README and docs/ parses
with the real command-line parser, every page is in the site's navigation, the README keeps its
quick-start commands, and the sweep example in the docs is a valid config."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import tomllib

import pytest

from moccasin_bench.cli import build_parser
from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(moccasin-bench [^`]+)`")


def _commands(text: str) -> list[str]:
    """Every moccasin-bench invocation: lines of fenced blocks (split at &&, | and ;) and inline code spans."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for piece in re.split(r"&&|;|\s\|\s", line):
                for part in re.split(r"\s{3,}", piece.strip()):  # diagrams put columns 3+ spaces apart
                    part = part.strip().removeprefix("$ ")
                    if part.startswith("moccasin-bench "):
                        found.append(part)
    prose = FENCE.sub("", text).replace("\n", " ")
    found += [m.strip() for m in INLINE.findall(prose)]
    return found


COMMANDS = sorted({(page.relative_to(REPO).as_posix(), cmd) for page in PAGES for cmd in _commands(page.read_text())})


def test_the_docs_show_commands():
    assert len(COMMANDS) > 50 and {p for p, _ in COMMANDS} >= {"README.md", "docs/sweeps.md", "docs/graphs.md"}


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of the verb (and action) that `words` start with, and the words after them."""
    while words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or words[0] not in subs[0].choices:
            break
        parser, words = subs[0].choices[words[0]], words[1:]
    return parser, words


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}:{c[15:60]}" for p, c in COMMANDS])
def test_every_documented_command_parses(page, command):
    """A command parses; a usage synopsis (`[--opt X]`, `a|b`) names only options its verb has;
    a bare verb (`moccasin-bench execute`, in prose) is a verb."""
    parser = build_parser()
    if "[" in command or "|" in command:
        verb, rest = _subparser(parser, command.split()[1:])
        assert verb is not parser, f"{page}: `{command}` names no verb"
        options = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(rest)))
        unknown = options - set(verb._option_string_actions)
        assert not unknown, f"{page}: `{command}`: {verb.prog} has no option {sorted(unknown)}"
        return
    argv = shlex.split(command, comments=True)[1:]
    verb, rest = _subparser(parser, argv)
    if not rest and verb is not parser and len(argv) == 1:
        return  # the verb named in prose
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            parser.parse_args(argv)
    except SystemExit as exc:  # argparse's way of refusing (0: --help)
        if exc.code != 0:
            pytest.fail(f"{page}: `{command}` does not parse: {err.getvalue().strip().splitlines()[-1]}")


def test_every_page_is_in_the_site_navigation():
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)\s*$", (REPO / "mkdocs.yml").read_text(), re.M))
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages - nav == set(), "pages no reader can reach: add them to mkdocs.yml's nav"
    assert nav - pages == set()


def test_readme_keeps_the_quick_start():
    readme = (REPO / "README.md").read_text()
    blocks = FENCE.findall(readme)
    main_job = (
        "pip install . && moccasin-bench solve demo --formulation moccasin --budget 0.8 --time-limit 30 -o demo.json "
        "&& moccasin-bench reproduce --quick -o results/quick\n"
    )
    tests = 'pip install ".[dev]" && python -m pytest -q\n'
    assert main_job in blocks and tests in blocks
    assert tests.strip() in (REPO / ".ci" / "run").read_text()  # CI runs the README's test command


def test_sweep_example_is_a_valid_config(tmp_path):
    from moccasin_bench.sweep import parse_config

    text = (REPO / "docs" / "sweeps.md").read_text()
    [example] = re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)
    config = parse_config(tomllib.loads(example), tmp_path / "my_grid.toml", example)
    assert [g.graphs for g in config.grids] == [("rl1", "cm1"), ("rl2", "cm2")]


def test_no_merge_conflict_markers_are_committed():
    """A merge left unresolved in prose or code reads as garbage on the site and breaks nothing else: catch it."""
    import subprocess

    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    bad = []
    for name in tracked:
        if name.endswith((".md", ".py", ".toml", ".txt", ".cfg", ".yml", ".yaml", ".html")):
            text = (REPO / name).read_text(errors="replace")
            if marker.search(text):
                bad.append(name)
    assert not bad, f"merge conflict markers in {bad}"
