"""New items: a run's content student against content-similarity baselines that read what it reads.

    OMP_NUM_THREADS=1 .venv/bin/python bench/content_baseline.py RUN [RUN ...] [--out JSON]

Each RUN is a `kgrec train ... --cold-items student|student-kg` run on a new-item protocol. The
student reads the items' text and their year and genres (kgrec.cold_items.ItemAttributes), while
`--model text-similarity` reads the text alone. Here the similarity baseline (kgrec's
TextSimilarity: cosine between an item's vector and the mean of the user's items') is scored
over four item vectors: the text alone, and the text beside the run's attribute vectors at
weights 0.25-4 (the weight chosen on validation new-only NDCG@20). Each with the user's history
from the target domain (the run's own training graph) and from every domain (as `--model
text-similarity` reads it). Prints, per run, test new-only NDCG@20 of each baseline and the
student's from the run's metrics.json, and the student's ratio to each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from kgrec.cold_items import ItemAttributes
from kgrec.commands.options import refuse_below_a_file
from kgrec.errors import InputError, run_script
from kgrec.evaluate import evaluate
from kgrec.experiment import build_run, load_run
from kgrec.files import write_atomic
from kgrec.models.text_similarity import TextSimilarity
from kgrec.threads import set_threads

WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0)  # the attributes' norm beside the unit text vector
METRIC = "ndcg@20"


def baselines(folder: Path, metric: str = METRIC) -> dict:
    """The run's student and the similarity baselines' test new-only ``metric`` (see above;
    ``k`` at most the number of new items)."""
    run = load_run(folder)
    if run.settings.get("cold_items") not in ("student", "student-kg"):
        raise InputError(
            "not a run with a content student (--cold-items student)",
            file=str(folder / "run.json"),
            field="cold_items",
        )
    experiment = run.experiment
    encoder = ItemAttributes.from_data(experiment.data, experiment.maps.genres)
    if encoder is None:
        raise InputError(f"{folder}: its items have no year or genres (or kgrec predates them)")
    attributes = encoder.matrix(experiment.data, experiment.maps.genres) / encoder.weight
    split = experiment.split
    text_graph = build_run(experiment, {**run.settings, "model": "text-similarity"})[1]
    student = student_figure(folder / "metrics.json", metric)
    found: dict = {"run": str(folder), "student": student}
    for history, graph in (("target", run.graph), ("all", text_graph)):
        items = slice(graph.num_users, graph.num_users + graph.num_items)
        text = F.normalize(graph.x[items].float().cpu(), dim=1)

        def score(weight: float, text=text, graph=graph) -> tuple[float, float]:
            vectors = torch.cat([text, weight * attributes], dim=1)
            model = TextSimilarity(graph.num_users, graph.num_items, vectors)
            figures = evaluate(model, graph, split, ("valid", "test"))
            return tuple(figures[phase]["new-only"][metric] for phase in ("valid", "test"))

        by_weight = {weight: score(weight) for weight in WEIGHTS}
        chosen = max(WEIGHTS, key=lambda weight: by_weight[weight][0])
        found[history] = {
            "text": score(0.0)[1],
            "text+attributes": by_weight[chosen][1],
            "weight": chosen,
            "valid_by_weight": {str(w): v for w, (v, _) in by_weight.items()},
        }
    return found


def student_figure(path: Path, metric: str) -> float:
    """The run's test new-only ``metric`` from its metrics.json; an InputError naming the file
    and field where it is not there (a run cut short; fewer new items than ``k``)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"not a finished run's metrics ({exc})", file=str(path)) from None
    value = record
    for name in ("test", "new-only", metric):
        value = value.get(name) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError("no figure here", file=str(path), field=f"test.new-only.{metric}")
    return value


def report(rows: list[dict]) -> str:
    lines = [
        "| run | student | text, all domains | text, target | text + attributes, all | "
        "text + attributes, target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            f"{row[history][kind]:.4f} ({row['student'] / row[history][kind]:.2f}×)"
            if row[history][kind]
            else "0"
            for kind in ("text", "text+attributes")
            for history in ("all", "target")
        ]
        name = Path(row["run"]).name
        lines.append(f"| {name} | {row['student']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with a content student")
    parser.add_argument("--threads", type=int, help="torch threads (default: kgrec's choice)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.out is not None and (args.out.exists() or args.out.is_symlink()):
        parser.error(f"{args.out} exists; the figures are never written over a file")
    refuse_below_a_file(parser, "--out", args.out)  # not a traceback once the figures are made
    set_threads(args.threads)
    rows = []
    for folder in args.runs:
        rows.append(baselines(folder))
        print(f"{folder}: done", flush=True)
    print(report(rows))
    if args.out:
        write_atomic(
            args.out, lambda tmp: tmp.write_text(json.dumps(rows, indent=1)), replace=False
        )


if __name__ == "__main__":
    run_script(main)
