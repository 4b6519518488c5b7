"""The max-batch table: the six catalogue models x 16 / 24 / 40 / 80 GiB x methods (`moccasin-bench maxbatch`).

Writes OUT/maxbatch-MODEL[--TAG].json (one per model and group of methods, resumable through
OUT/maxbatch.sqlite) and OUT/maxbatch.md, the groups of a model merged into its rows (one column per method).
Usage: python scripts/maxbatch_table.py OUT [--methods M,M] [--time-limit S] [--precision P] [--models a,b] [--tag T]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MODELS = ("pt-resnet18", "pt-resnet50", "pt-mobilenetv2", "pt-unet", "pt-gpt", "pt-vit-b16")
DEVICES = "16GiB,24GiB,40GiB,80GiB"
ORDER = (  # the table's columns: the frontier's methods in registry order
    "moccasin-fixed",
    "moccasin-free",
    "checkmate-milp",
    "heuristic",
    "annealing",
    "torch-partitioner",
    "torch-checkpoint",
    "torch-sac",
    "dtr",
    "rotor",
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--methods", default="heuristic,annealing,torch-checkpoint")
    ap.add_argument("--time-limit", default="5")
    ap.add_argument("--precision", default="0.02")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--search", default="bisect", choices=("bisect", "gallop"))
    ap.add_argument(
        "--guess-from",
        metavar="METHOD",
        help="with --search gallop: start the first device's search from this "
        "method's largest batch there (from the model's files already in OUT)",
    )
    ap.add_argument("--isolated", action="store_true", help="one child per solve (the runner's memory cap applies)")
    ap.add_argument(
        "--shared-plans",
        action="store_true",
        help="the PyTorch partitioner traces each model's step once, at the first batch it solves, and reuses "
        "those partitions at every other batch (in this process; its trace costs 20 to 45 s a call)",
    )
    ap.add_argument("--tag", default="", help="a name for this group of methods (its files: maxbatch-MODEL--TAG.json)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for model in a.models.split(","):
        target = out / (f"maxbatch-{model}--{a.tag}.json" if a.tag else f"maxbatch-{model}.json")
        if target.is_file():
            continue
        cmd = [sys.executable, "-m", "moccasin_bench.cli", "maxbatch", model, "--device-memory", DEVICES]
        cmd += ["--methods", a.methods, "--time-limit", a.time_limit, "--precision", a.precision]
        cmd += guess_args(out, model, a.guess_from) if a.search == "gallop" and a.guess_from else []
        cmd += [] if a.isolated else ["--in-process"]
        cmd += [
            "--sizes",
            "affine",
            "--search",
            a.search,
            "--store",
            str(out / (f"maxbatch--{a.tag}.sqlite" if a.tag else "maxbatch.sqlite")),
            "-o",
            str(target),
        ]
        print(" ".join(cmd[2:]), file=sys.stderr, flush=True)
        if a.shared_plans:
            in_process(cmd[4:])
            doc = json.loads(target.read_text())
            doc["partitioner_plans"] = PLANS_NOTE
            target.write_text(json.dumps(doc, indent=2) + "\n")
        else:
            subprocess.run(cmd, check=True)
    write_table(out)
    return 0


PLANS_NOTE = (
    "the partitioner's plans (forward and backward graphs per knob and knapsack solver) were traced once per "
    "model, at the first batch solved, and applied at every batch tried (each schedule simulated at its batch)"
)


def in_process(argv: list[str]) -> None:
    """`maxbatch` in this process, the partitioner's plans shared across batches."""
    import argparse

    from formulations._torch_remat import plans_shared_across_batches
    from moccasin_bench.cli import maxbatch

    parser = argparse.ArgumentParser()
    maxbatch.add_arguments(parser)
    with plans_shared_across_batches():
        maxbatch.run(parser.parse_args(argv))


def guess_args(out: Path, model: str, method: str) -> list[str]:
    """--first-guess: `method`'s largest batch on the first device, from the model's files in `out`."""
    for p in sorted(out.glob(f"maxbatch-{model}*.json")):
        for m in json.loads(p.read_text())["devices"][0]["methods"]:
            if m["method"].split("[")[0] == method and m["largest_batch"]:
                return ["--first-guess", str(m["largest_batch"])]
    return []


def column(method: str) -> str:
    """A method's column: its formulation, and for Moccasin its order (the frontier's method names)."""
    base = method.split("[")[0]
    if base == "moccasin" and "order=" in method:
        return "moccasin-" + method.split("order=")[1].split(",")[0].rstrip("]")
    return base


def how(doc: dict) -> str:
    """How a group of methods was run (its file's settings)."""
    search = doc.get("search", "bisect")
    text = f"{doc['time_limit_seconds']:g} s per solve, {doc['threads']} thread, precision {100 * doc['precision']:g} %"
    if search == "gallop":
        text += (
            "; search: the first device from "
            + ("another method's largest batch there (--first-guess)" if doc.get("first_guess") else "the bounds")
            + ", each later device galloping from the batch the method's previous result predicts"
        )
    else:
        text += "; search: bisection from the bounds on every device"
    if doc.get("in_process") is False:
        text += "; one child process per solve (the runner's memory cap applies)"
    if doc.get("partitioner_plans"):
        text += "; " + doc["partitioner_plans"]
    return text


def write_table(out: Path) -> None:
    models: dict[str, list[dict]] = {}
    for p in sorted(out.glob("maxbatch-*.json")):
        if p.name.startswith("maxbatch-execute"):
            continue
        doc = json.loads(p.read_text())
        models.setdefault(doc["model"], []).append(doc)
    if not models:
        return
    order = {name: i for i, name in enumerate(ORDER)}
    methods: list[str] = []
    settings: dict[str, dict[str, list[str]]] = {}  # a group's columns -> how they were run -> on which models
    for group in models.values():
        for doc in group:
            names = [column(m["method"]) for m in doc["devices"][0]["methods"]]
            methods += [n for n in names if n not in methods]
            settings.setdefault(", ".join(names), {}).setdefault(how(doc), []).append(doc["model"].split(":")[-1])
    methods.sort(key=lambda n: order.get(n, len(order)))
    lines = [
        "| model | device | plain (no recomputation) | " + " | ".join(methods) + " | no schedule beyond |",
        "|---|---:|---:|" + "---:|" * len(methods) + "---:|",
    ]
    missing = False
    for model, group in models.items():
        for i, dev in enumerate(group[0]["devices"]):
            by_name = {column(m["method"]): m for doc in group for m in doc["devices"][i]["methods"]}
            why = {column(k): v for doc in group for k, v in doc.get("not_applicable", {}).items()}
            cells = []
            for name in methods:
                m = by_name.get(name)
                if m is None:
                    cells.append("not applicable" if name in why else "not run")
                    missing = True
                    continue
                tdi = "" if m["tdi_percent"] is None else f" ({m['tdi_percent']:.1f} %)"
                cells.append(f"{m['largest_batch']:,}{tdi}")
            lines.append(
                f"| {model.split(':')[-1]} | {dev['device_bytes'] / 2**30:g} GiB | {dev['plain_largest_batch']:,} | "
                + " | ".join(cells)
                + f" | {dev['any_schedule_largest_batch']:,} |"
            )
    d0 = list(models.values())[0][0]
    lines += [
        "",
        "Largest batch (and TDI there) per method on a device of the memory shown, fixed bytes included; plain: "
        "without recomputation; no schedule beyond: the largest batch whose minimum feasible budget fits. Each "
        "batch shown fits; the next one tried above it (at most the precision larger) does not. Sizes: "
        f"{d0.get('sizes')} (interpolated from three extractions, checked). Not counted: {d0['not_counted']}.",
        "",
        *(
            f"- second search: {model.split(':')[-1]}: {text}"
            for model, g in models.items()
            for d in g
            for text in d.get("second_pass", ())
        ),
        *(
            f"- {names}: "
            + "; or, ".join(text + ("" if len(ways) == 1 else f" ({', '.join(on)})") for text, on in ways.items())
            for names, ways in settings.items()
        ),
    ]
    if missing:
        lines.append("- not run: no file of that method for the model in this directory (its README says why)")
    (out / "maxbatch.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
