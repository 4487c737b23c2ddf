"""Text-embedding speed on this machine: texts per second and the wall time for all ml-1m items.

    nice -n 10 .venv/bin/python bench/embed.py [--data $KGREC_DATA/ml-1m] [--model ID_OR_PATH]
        [--batch-size 64] [--threads N]

Loads ml-1m with the RecBole loader, builds the item texts, then encodes all of them with no
cache (goal: at most 60 s for the 3,883 items on CPU) and once more through a warm cache.
The CPU load average and the process's CPU time are printed too: on a shared machine the wall
time is inflated by the other processes, the CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from kgrec.commands.options import refuse_below_one
from kgrec.errors import run_script
from kgrec.text.cache import EmbeddingCache
from kgrec.text.embed import embed_texts
from kgrec.text.encoder import TextEncoder
from kgrec.text.nodes import item_texts
from kgrec.threads import set_threads
from loaders.recbole import load

GOAL_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("KGREC_DATA", "../shared/datasets")) / "ml-1m"
    parser.add_argument("--data", type=Path, default=default_data, help="ml-1m folder")
    parser.add_argument("--model", default=None, help="model id or folder (default MiniLM)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    args = parser.parse_args()
    refuse_below_one(parser, args, "batch_size", "threads")  # before ml-1m and the model
    if args.threads:
        set_threads(args.threads)  # refuses more than torch takes, as kgrec's --threads

    clock = time.perf_counter()
    graph = load(args.data, domain="ml-1m")
    loaded = time.perf_counter() - clock

    clock = time.perf_counter()
    texts = item_texts(graph)
    built = time.perf_counter() - clock

    clock = time.perf_counter()
    encoder = TextEncoder(args.model)
    model_load = time.perf_counter() - clock

    with tempfile.TemporaryDirectory() as tmp, EmbeddingCache(Path(tmp) / "c.sqlite") as cache:
        clock, cpu = time.perf_counter(), time.process_time()
        cold = embed_texts("Item", texts, encoder, cache=cache, batch_size=args.batch_size)
        encoded, encode_cpu = time.perf_counter() - clock, time.process_time() - cpu
        clock = time.perf_counter()
        warm = embed_texts("Item", texts, encoder, cache=cache, progress=False)
        cached = time.perf_counter() - clock

    total = built + model_load + encoded
    tokens = sum(len(ids) for ids in encoder.tokenizer(texts.tolist())["input_ids"])
    print(
        f"model            {encoder.source.name} ({encoder.dimension} dims, "
        f"max {encoder.max_length} tokens)"
    )
    print(
        f"cpu              {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"load average (1/5/15 min) {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"items            {len(texts)} ({len(cold.keys)} with text, {cold.encoded} distinct, "
        f"{tokens / len(texts):.1f} tokens each on average)"
    )
    print(f"load ml-1m       {loaded:8.2f} s (not counted)")
    print(f"build texts      {built:8.2f} s")
    print(f"load model       {model_load:8.2f} s")
    print(
        f"encode           {encoded:8.2f} s  = {cold.encoded / encoded:7.1f} texts/s "
        f"(batch size {args.batch_size})"
    )
    threads = torch.get_num_threads()
    print(
        f"encode CPU time  {encode_cpu:8.2f} s  over {threads} threads: on an idle machine "
        f"about {encode_cpu / threads:.1f} s = {cold.encoded * threads / encode_cpu:.1f} texts/s"
    )
    print(
        f"total            {total:8.2f} s  (goal <= {GOAL_SECONDS:.0f} s: "
        f"{'met' if total <= GOAL_SECONDS else 'NOT met'})"
    )
    print(f"re-run (cached)  {cached:8.2f} s, {warm.encoded} texts encoded")


if __name__ == "__main__":
    run_script(main)
