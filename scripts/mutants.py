"""Mutation testing by hand: deliberate bugs, each applied to a copy of the project and run
against the tests that should catch it. A mutant the tests do not kill is a gap in the suite.

    python scripts/mutants.py                       # every mutant; prints a Markdown table
    python scripts/mutants.py -k budget -k simulate # mutants whose id contains one of these
    python scripts/mutants.py -o results/reference/mutants.md

The copy is the tracked files (`git ls-files`) in a temporary directory; the working tree is
never touched. The tests are first run unmutated (they must pass, or the verdicts mean
nothing); then, per mutant, its one edit (the original text must occur exactly `count` times)
and `python -m pytest -x -q` on its tests. Exit status of pytest 1 = killed, 0 = survived,
anything else (collection error, timeout) = error. See docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]  # pytest arguments (files, node ids, -k expressions)
    what: str
    count: int = 1  # occurrences of `original` replaced (all of them must exist)


EXECUTE_TESTS = ("tests/test_execute_check.py",)
TRUST_TESTS = ("tests/test_trust.py",)
SIM_TESTS = ("tests/test_simulate.py",)
MOCCASIN_TESTS = ("tests/test_moccasin.py", "-k", "proven_optimum or paper_lengths")
CHECKMATE_TESTS = ("tests/test_checkmate.py",)

MUTANTS = (
    # ---- execute's comparison (issue 27 item 1) ---------------------------------------------
    Mutant(
        "execute-compares-a-run-with-itself",
        "graphs/pytorch/execute.py",
        "x, y = a.slots[name], b.slots[name]",
        "x, y = a.slots[name], a.slots[name]",
        EXECUTE_TESTS,
        "compare_states looks at one run only",
    ),
    Mutant(
        "execute-outputs-never-copied-to-slots",
        "graphs/pytorch/execute.py",
        "slots[name].copy_(local[name])",
        "local[name]",
        EXECUTE_TESTS,
        "step outputs never reach their slots: zeros compared with zeros",
        count=3,
    ),
    Mutant(
        "execute-bitwise-by-value",
        "graphs/pytorch/execute.py",
        "require_torch().equal(_bits(x), _bits(y))",
        "require_torch().equal(x, y)",
        EXECUTE_TESTS,
        "bitwise equality by value (NaN never equal, -0.0 == 0.0)",
    ),
    Mutant(
        "execute-tolerance-nan-never-close",
        "graphs/pytorch/execute.py",
        "return torch.where(both_nan | same_inf,",
        "return torch.where(same_inf,",
        EXECUTE_TESTS,
        "the tolerance check calls NaN against NaN different",
    ),
    Mutant(
        "execute-tolerance-without-rtol",
        "graphs/pytorch/execute.py",
        "bound = ATOL + RTOL *",
        "bound = ATOL + 0.0 *",
        EXECUTE_TESTS,
        "the tolerance is absolute only",
    ),
    Mutant(
        "execute-dropout-not-replayed",
        "graphs/pytorch/execute.py",
        "        if g in self.random:\n",
        "        if False:\n",
        ("tests/test_pytorch.py", "-k", "recomputed_dropout"),
        "random ops draw from the global stream: a recomputed dropout draws another mask",
    ),
    # ---- the trust model (issue 25 item 1) -----------------------------------------------------
    Mutant(
        "trust-everything",
        "graphs/pytorch/trust.py",
        "return spec in CATALOGUE_FACTORIES or spec in user_trusted()",
        "return True",
        TRUST_TESTS,
        "every factory a file names is trusted",
    ),
    Mutant(
        "trust-no-retrace-check",
        "graphs/pytorch/retrace.py",
        'spec, kwargs = check_factory(source.get("factory"), source.get("factory_kwargs"), graph.origin or graph.name)',
        'spec, kwargs = source.get("factory"), dict(source.get("factory_kwargs") or {})',
        TRUST_TESTS,
        "retrace does not check the file's factory",
    ),
    Mutant(
        "trust-no-call-gate",
        "graphs/pytorch/trace.py",
        "if not named_by_user and not is_trusted(spec):",
        "if False:",
        TRUST_TESTS,
        "make_setup calls any factory",
    ),
    Mutant(
        "trust-kwargs-any-float",
        "graphs/pytorch/trust.py",
        "return math.isfinite(value)",
        "return True",
        TRUST_TESTS,
        "NaN and infinity accepted as factory arguments",
    ),
    # ---- budgets (issue 27 item 2) -------------------------------------------------------------
    Mutant(
        "budget-float-rounding",
        "moccasin_bench/budget.py",
        "math.ceil(Fraction(str(fraction)) * peak)",
        "math.ceil(fraction * peak)",
        ("tests/test_budget_cli.py",),
        "ceil(fraction x peak) in floats (0.55 x 100 -> 56)",
    ),
    Mutant(
        "budget-rounds-down",
        "moccasin_bench/budget.py",
        "math.ceil(Fraction(str(fraction)) * peak)",
        "math.floor(Fraction(str(fraction)) * peak)",
        ("tests/test_budget_cli.py",),
        "budgets rounded down",
    ),
    # ---- the simulator ---------------------------------------------------------------------------
    Mutant(
        "simulate-freed-a-step-early",
        "moccasin_bench/simulate.py",
        "np.subtract.at(delta, live_until + 1, mem)",
        "np.subtract.at(delta, live_until, mem)",
        SIM_TESTS,
        "a copy stops counting at its last reader's step",
    ),
    Mutant(
        "simulate-last-reader-ignored",
        "moccasin_bench/simulate.py",
        "np.maximum.at(live_until, producer[found], reader_step[found])",
        "np.maximum.at(live_until, producer[found], reader_step[found] - 1)",
        SIM_TESTS,
        "liveness ends one step before the last read",
    ),
    Mutant(
        "simulate-peak-step-last",
        "moccasin_bench/simulate.py",
        "peak_step = int(np.argmax(memory_per_step)) if T else 0",
        "peak_step = T - 1 - int(np.argmax(memory_per_step[::-1])) if T else 0",
        SIM_TESTS,
        "the peak's step is the last step at the peak, not the first",
    ),
    Mutant(
        "simulate-missing-input-accepted",
        "moccasin_bench/simulate.py",
        "if not found.all():",
        "if False:",
        SIM_TESTS,
        "reading a value never computed is not a violation",
    ),
    Mutant(
        "simulate-never-computed-accepted",
        "moccasin_bench/simulate.py",
        "never = np.nonzero(np.bincount(s, minlength=n) == 0)[0]",
        "never = np.nonzero(np.bincount(s, minlength=n) < 0)[0]",
        SIM_TESTS,
        "a node never computed is not a violation",
    ),
    # ---- formulation models ---------------------------------------------------------------------
    Mutant(
        "moccasin-fixed-labelled-free",
        "formulations/moccasin.py",
        'f"fixed order along the {order_name} order (stage grid)"',
        'f"free order over {horizon} time steps"',
        MOCCASIN_TESTS,
        "fixed order reported as free order (issue 27 item 3)",
    ),
    Mutant(
        "moccasin-capacity-plus-one",
        "formulations/_moccasin_model.py",
        "m.add_cumulative(intervals, demands, capacity)",
        "m.add_cumulative(intervals, demands, capacity + 1)",
        MOCCASIN_TESTS,
        "the cumulative allows one memory unit over the budget",
    ),
    # (An earlier mutant, `start[u][0] + 1 <= start[v][0]` -> `<=` on the free-order first copies,
    # survived as an equivalent mutant: the unit intervals' no-overlap already forbids equal starts,
    # and the precedence cover implies the cut. Kept out of the list.)
    Mutant(
        "moccasin-cover-ends-at-the-read",
        "formulations/_moccasin_model.py",
        "                at_most(svj + 1, end[u][i], lits)",
        "                at_most(svj, end[u][i], lits)",
        MOCCASIN_TESTS,
        "the input's covering copy may end when its reader starts (latest precedence)",
    ),
    Mutant(
        "checkmate-carry-over-free",
        "formulations/_checkmate_model.py",
        'rows.add("carry", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.zeros(k))',
        'rows.add("carry", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.ones(k))',
        CHECKMATE_TESTS,
        "a value may be retained into a stage without having been computed or retained",
    ),
    Mutant(
        "checkmate-dependencies-free",
        "formulations/_checkmate_model.py",
        'rows.add("dependencies", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.zeros(k))',
        'rows.add("dependencies", np.repeat(np.arange(k), 3), cols, np.tile(ones3, k), np.full(k, -np.inf), np.ones(k))',
        CHECKMATE_TESTS,
        "a node may be computed without its inputs",
    ),
    Mutant(
        "annealing-ignores-half-its-limit",
        "formulations/_anneal_cycles.py",
        "if now >= limit or (",
        "if now >= 2 * limit or (",
        ("tests/test_annealing.py", "-k", "time_limit"),
        "the annealer runs to twice its time limit",
    ),
)


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (REPO / p).is_file()]


def copy_project(dest: Path) -> None:
    for rel in tracked_files():
        if rel.startswith("results/"):  # measurements: not needed by the tests
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)


def run_tests(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, float, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:logging", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, "timeout"
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith("FAILED ")]  # which test caught it (-rf)
    last = failed[0] if failed else lines[-1] if lines else proc.stderr.strip()[-200:]
    return proc.returncode, time.perf_counter() - t0, last


def first_failure(text: str) -> str:
    return text.replace("|", "\\|")[:110]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], metavar="TEXT", help="only mutants whose id contains TEXT")
    ap.add_argument("-o", "--output", metavar="FILE", help="also write the Markdown table here")
    ap.add_argument("--timeout", type=float, default=900, metavar="S", help="per test run (default 900 s)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.k or any(k in m.id for k in args.k)]
    if args.list:
        for m in chosen:
            print(f"{m.id:42} {m.path}: {m.what}")
        return 0
    for m in chosen:  # a mutant whose text is gone (the code changed) is an error, before any run
        found = (REPO / m.path).read_text().count(m.original)
        if found != m.count:
            print(f"mutant {m.id}: {m.original!r} occurs {found} times in {m.path}, expected {m.count}")
            return 2
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    with tempfile.TemporaryDirectory(prefix="moccasin-mutants-") as tmp:
        root = Path(tmp)
        copy_project(root)
        suites = sorted({m.tests for m in chosen})
        for tests in suites:
            code, seconds, tail = run_tests(root, tests, args.timeout)
            print(f"baseline {' '.join(tests)}: exit {code} in {seconds:.0f} s ({tail})", file=sys.stderr)
            if code == 1:  # once more: a test with a time limit may miss it on a loaded machine
                code, seconds, tail = run_tests(root, tests, args.timeout)
                print(f"baseline again: exit {code} in {seconds:.0f} s ({tail})", file=sys.stderr)
            if code != 0:
                print(f"the unmutated tests do not pass ({' '.join(tests)}): {tail}", file=sys.stderr)
                return 2
        for m in chosen:
            path = root / m.path
            text = path.read_text()
            path.write_text(text.replace(m.original, m.mutated))
            try:
                code, seconds, tail = run_tests(root, m.tests, args.timeout)
            finally:
                path.write_text(text)
            verdict = {1: "killed", 0: "SURVIVED"}.get(code, "error")
            rows.append((m, verdict, seconds, tail))
            print(f"{verdict:9} {m.id} ({seconds:.0f} s): {tail}", file=sys.stderr, flush=True)
            write_table(rows, started, args.output, final=False)
    return write_table(rows, started, args.output, final=True)


def write_table(rows: list, started: str, output: str | None, final: bool) -> int:
    """The Markdown table of the verdicts so far (written after every mutant, so a long run
    interrupted keeps what it found); printed at the end."""
    killed = sum(v == "killed" for _, v, _, _ in rows)
    lines = [
        f"# Mutants: {killed} of {len(rows)} killed",
        "",
        f"`python scripts/mutants.py` on {started}; each mutant's tests run with `pytest -x` on a copy of the project.",
        "",
        "| mutant | file | bug | tests | verdict | seconds | pytest's last line |",
        "|---|---|---|---|---|---:|---|",
    ]
    for m, verdict, seconds, tail in rows:
        lines.append(
            f"| `{m.id}` | `{m.path}` | {m.what} | `{' '.join(m.tests)}` | {verdict} | {seconds:.0f} | {first_failure(tail)} |"
        )
    table = "\n".join(lines) + "\n"
    if final:
        print(table)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(table)
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
