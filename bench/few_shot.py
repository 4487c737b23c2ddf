"""Few-shot users (issue 13, point 2): NDCG@20 of the users new to the target domain against
K, the number of their target interactions given to training, from trained run folders.

    python bench/few_shot.py RUNS [--plot bench/few_shot.png [--force]]

RUNS holds run folders named ``<model>-k<K>-s<seed>`` (a label of ``LABELS`` is shown by its
name, any other model label as it is), trained on a protocol with cold-start users, e.g. for
seed S and K in 1, 3, 5::

    kgrec train --model lightgcn-merged --protocol ml1m-action-comedy --seed S \\
        --data $KGREC_DATA/ml-1m --lr 0.004 --batch-size 8192 --few-shot K --out RUNS/lgm-kK-sS

K = 0 is the protocol as it is (no ``--few-shot``): its users are the ``cold`` group; with
K >= 1 they are the ``few-shot`` group. Printed: test NDCG@20 per model and K (mean ± sample
std over seeds, and the seeds), the paired per-seed differences of every model against the
first one named by ``--baseline``, and the warm users' figure beside; ``--plot`` draws the
curve (into a new file; ``--force`` replaces one already there). Nothing is trained here.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

NAME = re.compile(r"^(?P<model>.+)-k(?P<k>\d+)-s(?P<seed>\d+)$")
LABELS = {
    "pop": "popularity",
    "lgm": "merged LightGCN",
    "cd": "cross-domain model",
    # the README's runs trained for the cold start (session 52): the baseline, EASE beside it
    # and the cross-domain model distilled from the two
    "lgmcs": "merged LightGCN, cold-start training",
    "easemt": "ease-merged with texts",
    "cdkd": "cross-domain, distilled",
    # and the control (session 53): merged LightGCN distilled from the baseline and EASE
    # without the texts
    "easem": "ease-merged",
    "lgmkd": "merged LightGCN, distilled (control)",
}


def collect(runs: Path, metric: str = "ndcg@20") -> dict[tuple[str, int], dict[int, dict]]:
    """(model, K) -> seed -> {"users": figure of the cold/few-shot users, "warm": ...}."""
    found: dict[tuple[str, int], dict[int, dict]] = {}
    for folder in sorted(runs.iterdir()):
        match = NAME.match(folder.name)
        metrics = folder / "metrics.json"
        if not match or not metrics.is_file():
            continue
        try:
            record = json.loads(metrics.read_text(encoding="utf-8"))
        except ValueError as exc:  # cut short, edited by hand
            raise ValueError(f"{metrics}: not JSON ({exc})") from None
        k = int(match["k"])
        name = "cold" if k == 0 else "few-shot"
        group = field(metrics, record, "test", name, optional=True) or {}
        if metric not in group:
            print(f"{folder}: no {metric} for its users; left out", file=sys.stderr)
            continue
        found.setdefault((match["model"], k), {})[int(match["seed"])] = {
            "users": field(metrics, record, "test", name, metric),
            "warm": field(metrics, record, "test", "warm", metric),
        }
    return found


def field(metrics: Path, record, *names: str, optional: bool = False):
    """``record[names[0]][names[1]]...``: a figure (a number), or with ``optional`` a group
    that may be missing or null; else a ValueError naming the file and the field."""
    value = record
    for depth, name in enumerate(names):
        if not isinstance(value, dict) or (name not in value and not optional):
            raise ValueError(f"{metrics}: no field {'.'.join(names[: depth + 1])}")
        value = value.get(name)
    if optional:
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{metrics}: field {'.'.join(names)} is not a group of figures")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{metrics}: field {'.'.join(names)} is not a number, got {value!r}")
    return value


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def report(found: dict, baseline: str) -> str:
    models = sorted({m for m, _ in found}, key=lambda m: (m != baseline, m))
    ks = sorted({k for _, k in found})
    lines = [
        "| model | K | seeds | NDCG@20 of those users | per seed | paired − "
        f"{LABELS.get(baseline, baseline)} | warm users |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in models:
        for k in ks:
            runs = found.get((model, k))
            if not runs:
                continue
            seeds = sorted(runs)
            users = [runs[s]["users"] for s in seeds]
            base = found.get((baseline, k), {})
            paired = ", ".join(
                f"{runs[s]['users'] - base[s]['users']:+.4f}" for s in seeds if s in base
            )
            lines.append(
                f"| {LABELS.get(model, model)} | {k} | {','.join(map(str, seeds))} | "
                f"{mean_std(users)} | {', '.join(f'{u:.4f}' for u in users)} | "
                f"{paired if model != baseline else ''} | "
                f"{mean_std([runs[s]['warm'] for s in seeds])} |"
            )
    return "\n".join(lines)


def plot(found: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model in sorted({m for m, _ in found}):
        ks = sorted(k for m, k in found if m == model)
        means = [statistics.mean(r["users"] for r in found[(model, k)].values()) for k in ks]
        spread = [
            statistics.stdev([r["users"] for r in found[(model, k)].values()])
            if len(found[(model, k)]) > 1
            else 0.0
            for k in ks
        ]
        ax.errorbar(ks, means, yerr=spread, marker="o", capsize=3, label=LABELS.get(model, model))
    ax.set_xlabel("K: target interactions of a new user given to training")
    ax.set_ylabel("test NDCG@20 of those users")
    ax.set_xticks(sorted({k for _, k in found}))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)  # pyplot keeps every figure it made until closed
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="folder of <model>-k<K>-s<seed> run folders")
    parser.add_argument(
        "--baseline", help="model label paired against (default lgm, where RUNS has its runs)"
    )
    parser.add_argument(
        "--plot", type=Path, help="write the curve here (PNG; an existing file only with --force)"
    )
    parser.add_argument("--force", action="store_true", help="replace the --plot file if it exists")
    args = parser.parse_args(argv)
    if args.plot and (args.plot.is_dir() or not args.plot.parent.is_dir()):
        print(f"--plot {args.plot}: not a file in a folder that exists", file=sys.stderr)
        return 2
    if args.plot and args.plot.exists() and not args.force:  # before, replaced silently
        print(f"--plot {args.plot}: the file exists; --force replaces it", file=sys.stderr)
        return 2
    if not args.runs.is_dir():
        print(f"{args.runs}: not a folder", file=sys.stderr)
        return 2
    try:
        found = collect(args.runs)
    except ValueError as exc:  # before, a JSONDecodeError or KeyError traceback
        print(exc, file=sys.stderr)
        return 2
    if not found:
        print(f"{args.runs}: no <model>-k<K>-s<seed> run with metrics", file=sys.stderr)
        return 2
    models = sorted({model for model, _ in found})
    if args.baseline is not None and args.baseline not in models:  # before, an empty column
        print(
            f"--baseline {args.baseline}: {args.runs} has no run of that model label (it has "
            f"{', '.join(models)})",
            file=sys.stderr,
        )
        return 2
    print(report(found, args.baseline or "lgm"))
    if args.plot:
        plot(found, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
