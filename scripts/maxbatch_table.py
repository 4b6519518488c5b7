"""The max-batch table: the six catalogue models x 16 / 24 / 40 / 80 GiB x methods (`moccasin-bench maxbatch`).

Writes OUT/maxbatch-MODEL.json (one per model, resumable through OUT/maxbatch.sqlite) and OUT/maxbatch.md.
Usage: python scripts/maxbatch_table.py OUT [--methods M,M] [--time-limit S] [--precision P] [--models a,b]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MODELS = ("pt-resnet18", "pt-resnet50", "pt-mobilenetv2", "pt-unet", "pt-gpt", "pt-vit-b16")
DEVICES = "16GiB,24GiB,40GiB,80GiB"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--methods", default="heuristic,annealing,torch-checkpoint")
    ap.add_argument("--time-limit", default="5")
    ap.add_argument("--precision", default="0.02")
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for model in a.models.split(","):
        target = out / f"maxbatch-{model}.json"
        if target.is_file():
            continue
        cmd = [sys.executable, "-m", "moccasin_bench.cli", "maxbatch", model, "--device-memory", DEVICES]
        cmd += ["--methods", a.methods, "--time-limit", a.time_limit, "--precision", a.precision]
        cmd += ["--sizes", "affine", "--in-process", "--store", str(out / "maxbatch.sqlite"), "-o", str(target)]
        print(" ".join(cmd[2:]), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    write_table(out)
    return 0


def write_table(out: Path) -> None:
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("maxbatch-*.json"))]
    if not docs:
        return
    methods = [m["method"].split("[")[0] for m in docs[0]["devices"][0]["methods"]]
    lines = [
        "| model | device | plain (no recomputation) | " + " | ".join(methods) + " | no schedule beyond |",
        "|---|---:|---:|" + "---:|" * len(methods) + "---:|",
    ]
    for d in docs:
        for dev in d["devices"]:
            cells = []
            by_name = {m["method"].split("[")[0]: m for m in dev["methods"]}
            for m in (by_name[name] for name in methods):
                tdi = "" if m["tdi_percent"] is None else f" ({m['tdi_percent']:.1f} %)"
                cells.append(f"{m['largest_batch']:,}{tdi}")
            lines.append(
                f"| {d['model'].split(':')[-1]} | {dev['device_bytes'] / 2**30:g} GiB | {dev['plain_largest_batch']:,} | "
                + " | ".join(cells)
                + f" | {dev['any_schedule_largest_batch']:,} |"
            )
    d0 = docs[0]
    lines += [
        "",
        f"Largest batch (and TDI there) per method; solves of {d0['time_limit_seconds']:g} s, {d0['threads']} thread, "
        f"bisection to {100 * d0['precision']:g} % (the batch shown fits; one at most {100 * d0['precision']:g} % "
        f"larger was tried and does not); sizes: {d0.get('sizes')}. Not counted: {d0['not_counted']}.",
    ]
    (out / "maxbatch.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
