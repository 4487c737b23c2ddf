"""RecBole 1.2.1's LightGCN, SGL, SimpleX, NCL and EASE on kgrec's own split files (issue 12,
point 0).

    make setup-recbole            # once: RecBole in $KGREC_CACHE/recbole-venv, its own pins
    .venv/bin/python bench/peers.py --split DIR --out results/peers \\
        [--models LightGCN SimpleX SGL NCL EASE] [--kgrec RUN_DIR ...]
    .venv/bin/python bench/peers.py --data $KGREC_DATA/ml-100k --protocol ml100k-kg --seed 0 \\
        --out results/peers

``--split DIR`` reads kgrec split files (``train.tsv``, ``valid.tsv``, ``test.tsv``, header
``user_id<TAB>item_id``, as ``kgrec split ... --write-split DIR`` writes them) with kgrec's own
reader, so RecBole gets the ids kgrec trains on (whitespace around an id is no part of it,
``user_id:token`` headers are read too); ``--data`` makes
them first with kgrec's protocol and seed (into ``OUT/split``). The pairs are written as RecBole
benchmark files (``OUT/recbole/kgrec/kgrec.{train,valid,test}.inter``, header
``user_id:token<TAB>item_id:token``) and each model runs in a subprocess of RecBole's own
environment (its python, ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, ``OMP_NUM_THREADS`` from
``--threads``), one model at a time. After each model ``OUT/peers.json`` is rewritten, so a stop
loses nothing; a model already in it is not run again (``--rerun`` runs it anyway), and one
that ran with other settings (``--epochs``, ``--set``, ``--threads``) is refused, not reused.

Settings (:data:`SETTINGS`): full ranking over all items (``eval_args.mode: full``), the
benchmark files as they are (no filtering, no re-split), ``topk [10, 20]``, metrics Recall and
NDCG, early stopping on ``valid_metric: NDCG@20`` (RecBole's default ``stopping_step`` 10 and
``epochs`` 300), CPU. Everything else is RecBole 1.2.1's default for the model (learning rate
0.001, batch 2048, 64 dimensions, RecBole's seed 2020, and each model's own yaml), except
where the default cannot run on ml-100k (:data:`MODEL_SETTINGS`: NCL with 100 prototypes, as
its 1,000 exceed the 943 users). ``--set KEY=VALUE`` changes a setting for every model run.

Masking (read in RecBole 1.2.1's ``recbole/sampler/sampler.py``, ``Sampler.get_used_ids``, and
``recbole/data/dataloader/general_dataloader.py``, ``FullSortEvalDataLoader``): with benchmark
files the used items of phase ``valid`` are train ∪ valid and of ``test`` train ∪ valid ∪ test;
the full-sort loader masks ``used - positives of the phase``, i.e. the training items when
scoring valid and the training and validation items when scoring test — kgrec's convention. The
worker checks this on the loaders themselves before training (``masking_checked`` in the JSON):
the masked (user, item) pairs must equal the train pairs for valid and train ∪ valid for test.

``--kgrec RUN_DIR`` adds a finished ``kgrec train`` run (its ``run.json`` and ``metrics.json``) to
the table; the split it was trained on (its ``experiment.pt``) must hold the pairs benchmarked,
and a run that did not finish, or is being trained, is refused (``kgrec.experiment.load_run``),
before anything is written under ``--out``.
A run of a model that also trained on other domains' interactions (``lightgcn-merged``,
``cross-domain``, ...) is marked ``[also trained on DOMAINS]``, with a note under the table:
RecBole's models train on the split files alone (the target domain's interactions).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MODELS = ("LightGCN", "SGL", "SimpleX", "NCL", "EASE")
DATASET = "kgrec"
SPLIT_FILES = ("train", "valid", "test")
SPLIT_HEADER = "user_id\titem_id"
INTER_HEADER = "user_id:token\titem_id:token"
RESULTS_FILE = "peers.json"
WEIGHTS_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"

# What this benchmark sets; everything else is RecBole 1.2.1's default.
SETTINGS = {
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "load_col": {"inter": ["user_id", "item_id"]},
    "benchmark_filename": list(SPLIT_FILES),
    "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},  # split: the files
    "metrics": ["Recall", "NDCG"],
    "topk": [10, 20],
    "valid_metric": "NDCG@20",
    "use_gpu": False,
    "show_progress": False,
}

# Per model, where RecBole's default cannot run here: NCL's 1,000 prototypes (k-means clusters)
# exceed ml-100k's 943 users, and k-means needs at least as many points as clusters.
MODEL_SETTINGS = {"NCL": {"num_clusters": 100}}


# What RecBole's reader of the benchmark files (pandas' read_csv, its default options) takes for
# a missing value, not an id: RecBole maps every such id to its padding id 0. A field opening
# with a quote loses its quotes (or the file fails to parse). Split files may hold both: kgrec's
# loaders read them as ids.
PANDAS_NA = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)


class PeersError(Exception):
    """A message for the user (missing environment, malformed split files)."""


# --- split files -> RecBole benchmark files (no RecBole needed) -------------------------------


def read_split_file(path: Path) -> list[tuple[str, str]]:
    """The (user_id, item_id) rows of a kgrec split file, read by kgrec's own reader (the ids
    kgrec's models are trained on: whitespace around an id is no part of it). Runs on kgrec's
    side only: RecBole's environment gets the benchmark files made from these rows."""
    from kgrec.data.split import read_split_pairs
    from kgrec.errors import InputError

    try:
        return read_split_pairs(path)
    except InputError as error:
        raise PeersError(str(error)) from None


def split_checksum(split_dir: Path) -> str:
    """A checksum of the split's pairs (each file's, as a set): what results were made from."""
    digest = hashlib.sha256()
    for part in SPLIT_FILES:
        for user, item in sorted(set(read_split_file(split_dir / f"{part}.tsv"))):
            digest.update(f"{part}\t{user}\t{item}\n".encode())
    return digest.hexdigest()


def check_same_split(results: dict, checksum: str, results_path: Path) -> None:
    """PeersError when ``results`` (read from ``results_path``) hold models' results of
    another split than the one of ``checksum``: they would be printed, or reused, as if they
    were this split's."""
    recorded = results.get("split_sha256")
    if not results["models"] or recorded == checksum:
        return
    if recorded is None:
        print(f"warning: {results_path} does not record its split: not checked", flush=True)
        return
    raise PeersError(
        f"{results_path} holds results of another split ({results.get('split')}): give "
        "another --out for this one"
    )


# the config keys that say where a run's files are, not how it ran (--out may have moved)
PATH_KEYS = ("data_path", "checkpoint_dir")


def run_settings(config: dict) -> dict:
    """What a RecBole run's figures depend on: its config (:func:`recbole_config`: settings,
    ``--epochs``, ``--set``, threads) without the paths of its files, as JSON keeps it."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k not in PATH_KEYS}))


def check_same_settings(record: dict, config: dict, name: str, results_path: Path, hint: str):
    """PeersError when ``record``, the result of ``name`` in ``results_path``, was run with
    other settings than ``config``'s: it would be reused, and printed, as this run's."""
    recorded = record.get("run_settings")
    if recorded is None:  # a file written before the settings were recorded
        print(f"warning: {results_path} does not record {name}'s settings: not checked", flush=True)
        return
    wanted = run_settings(config)
    if recorded == wanted:
        return

    def shown(settings: dict, key: str) -> str:
        return json.dumps(settings[key]) if key in settings else "RecBole's default"

    differ = [
        f"{key} {shown(recorded, key)} there, {shown(wanted, key)} now"
        for key in sorted(set(recorded) | set(wanted))
        if recorded.get(key, ...) != wanted.get(key, ...)
    ]
    raise PeersError(
        f"{results_path} holds {name} run with other settings ({'; '.join(differ)}): {hint}"
    )


def write_benchmark(split_dir: Path, out_dir: Path, name: str = DATASET) -> dict[str, int]:
    """Write ``out_dir/name.{train,valid,test}.inter`` from ``split_dir``'s split files.

    Returns the number of interactions per file. A pair that occurs twice (in one file or across
    files) is an error: RecBole would count it twice in training or as both history and target.
    So is an id RecBole would read as another (:data:`PANDAS_NA`, a leading quote); either is
    refused before any file is written.
    """
    seen: dict[tuple[str, str], str] = {}
    parts = {}
    for part in SPLIT_FILES:
        path = split_dir / f"{part}.tsv"
        rows = parts[part] = read_split_file(path)
        for line, row in enumerate(rows, start=2):  # a split file's rows: no blank lines
            if row in seen:
                raise PeersError(f"pair {row} is in {seen[row]}.tsv and again in {part}.tsv")
            seen[row] = part
            for field, value in zip(("user_id", "item_id"), row, strict=True):
                if value in PANDAS_NA or value.startswith('"'):
                    raise PeersError(
                        f"file {path}, line {line}, field {field!r}: RecBole would not read the "
                        f"id {value!r} as written (its reader, pandas, takes it for a missing "
                        "value or a quoted field): give the id another name in the data"
                    )
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for part, rows in parts.items():
        text = "\n".join([INTER_HEADER, *(f"{u}\t{i}" for u, i in rows)]) + "\n"
        (out_dir / f"{name}.{part}.inter").write_text(text, encoding="utf-8")
        counts[part] = len(rows)
    return counts


def recbole_config(
    data_path: Path,
    work_dir: Path,
    model: str,
    threads: int,
    epochs: int | None = None,
    overrides: dict | None = None,
) -> dict:
    """The config_dict of one RecBole run: :data:`SETTINGS`, :data:`MODEL_SETTINGS`, paths,
    ``epochs`` (a cap) and ``overrides`` (``--set``), later ones winning."""
    return {
        **SETTINGS,
        **MODEL_SETTINGS.get(model, {}),
        **({} if epochs is None else {"epochs": epochs}),
        **(overrides or {}),
        "model": model,
        "dataset": DATASET,
        "data_path": str(data_path),
        "checkpoint_dir": str(work_dir / "saved"),
        "threads": threads,
    }


# --- the RecBole environment ------------------------------------------------------------------


def default_venv() -> Path:
    cache = os.environ.get("KGREC_CACHE") or Path.home() / ".cache" / "kgrec"
    return Path(cache) / "recbole-venv"


def recbole_python(venv: Path) -> Path:
    """The RecBole environment's python, or :class:`PeersError` saying how to make it."""
    python = venv.absolute() / "bin" / "python"  # the models run in their own folders
    if not python.is_file() or not any(venv.glob(".complete-*")):
        raise PeersError(
            f"no RecBole environment at {venv} (or its install did not finish): run "
            "`make setup-recbole` (it installs RecBole 1.2.1 into $KGREC_CACHE/recbole-venv), "
            "or pass --venv"
        )
    return python


def run_peer(python: Path, config: dict, work_dir: Path, timeout: float | None) -> dict:
    """Run one model in RecBole's environment; its result record (``error`` on failure)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / "config.json"
    result_path = work_dir / "result.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    result_path.unlink(missing_ok=True)
    threads = str(config["threads"])
    env = {
        **os.environ,
        WEIGHTS_ENV: "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": "",
    }
    start = time.perf_counter()
    with open(work_dir / "run.log", "w") as log:
        try:
            proc = subprocess.run(
                [str(python), str(Path(__file__).resolve()), "--worker", str(config_path)],
                cwd=work_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
    wall = round(time.perf_counter() - start, 1)
    if code == 0 and result_path.is_file():
        record = json.loads(result_path.read_text())
        record["wall_seconds"] = wall
        record["run_settings"] = run_settings(config)  # what a rerun checks before reusing it
        return record
    tail = (work_dir / "run.log").read_text(errors="replace").strip().splitlines()[-15:]
    why = "timed out" if code is None else f"exit code {code}"
    return {"error": f"{why}; log {work_dir / 'run.log'}", "log_tail": tail, "wall_seconds": wall}


# --- the worker: runs inside RecBole's environment --------------------------------------------


def worker(config_path: Path) -> None:
    """Train and test one RecBole model (this file run by RecBole's python)."""
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    config_dict = json.loads(config_path.read_text())
    torch.set_num_threads(int(config_dict.pop("threads")))
    check_masking = config_dict.pop("check_masking", True)
    _patch_faiss_for_cpu()
    config = Config(model=config_dict["model"], dataset=DATASET, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    checked = check_masking and _check_masking(dataset, train_data, valid_data, test_data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    curve: list[float] = []
    seconds: list[float] = []  # since the start of fit, at the end of each validation
    cpu_seconds: list[float] = []  # the same in this process's CPU time
    valid_epoch = trainer._valid_epoch

    def record_valid(*args, **kwargs):
        score, result = valid_epoch(*args, **kwargs)
        curve.append(round(float(score), 6))
        seconds.append(round(time.perf_counter() - start, 2))
        cpu_seconds.append(round(time.process_time() - cpu_start, 2))
        return score, result

    trainer._valid_epoch = record_valid
    start, cpu_start = time.perf_counter(), time.process_time()
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - start
    valid_result = trainer.evaluate(valid_data, load_best_model=True, show_progress=False)
    test_result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_step = int(config["eval_step"])
    epochs_run = len(trainer.train_loss_dict)
    record = {
        "model": config["model"],
        "valid": {k: round(float(v), 6) for k, v in valid_result.items()},
        "test": {k: round(float(v), 6) for k, v in test_result.items()},
        "best_valid_ndcg@20": round(float(best_valid), 6),
        "epochs_run": epochs_run,
        # RecBole keeps the last of equal scores (``>=``) and counts evaluations since it
        "best_epoch": epochs_run - trainer.cur_step * eval_step,
        "fit_seconds": round(fit_seconds, 1),
        "seconds_per_epoch": round(fit_seconds / max(epochs_run, 1), 3),
        "valid_curve": curve,
        "valid_seconds": seconds,
        "valid_cpu_seconds": cpu_seconds,
        "masking_checked": checked,
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": {
            k: _plain(config[k])
            for k in (
                "seed",
                "epochs",
                "stopping_step",
                "learning_rate",
                "train_batch_size",
                "embedding_size",
                "train_neg_sample_args",
                "eval_step",
            )
            if k in config
        }
        | {k: _plain(v) for k, v in config.final_config_dict.items() if k in _model_keys(config)},
        "versions": _versions(),
    }
    (config_path.parent / "result.json").write_text(json.dumps(record, indent=2) + "\n")


def _check_masking(dataset, train_data, valid_data, test_data) -> bool:
    """Assert that valid masks exactly train and test exactly train ∪ valid (by (user, item))."""
    uid, iid = dataset.uid_field, dataset.iid_field

    def pairs(data) -> set[tuple[int, int]]:
        inter = data._dataset.inter_feat if hasattr(data, "_dataset") else data.inter_feat
        return set(zip(inter[uid].tolist(), inter[iid].tolist(), strict=True))

    def masked(loader) -> set[tuple[int, int]]:
        found = set()
        for user, items in enumerate(loader.uid2history_item):
            if items is not None:
                found.update((user, int(i)) for i in items.tolist())
        return found

    train, valid = pairs(train_data), pairs(valid_data)
    if masked(valid_data) != train:
        raise AssertionError("RecBole's valid evaluation does not mask exactly the train pairs")
    if masked(test_data) != train | valid:
        raise AssertionError("RecBole's test evaluation does not mask exactly train ∪ valid pairs")
    return True


def _patch_faiss_for_cpu() -> None:
    """NCL asks faiss for ``Kmeans(..., gpu=True)``; on faiss-cpu run the same k-means on CPU."""
    try:
        import faiss
    except ImportError:
        return
    if hasattr(faiss, "StandardGpuResources"):
        return
    kmeans = faiss.Kmeans

    class CpuKmeans(kmeans):
        def __init__(self, d, k, **kwargs):
            kwargs.pop("gpu", None)
            super().__init__(d, k, **kwargs)

    faiss.Kmeans = CpuKmeans


def _model_keys(config) -> set[str]:
    """The keys of the model's own yaml in RecBole (its defaults, as run)."""
    import recbole

    path = Path(recbole.__file__).parent / "properties" / "model" / f"{config['model']}.yaml"
    if not path.is_file():
        return set()
    import yaml

    return set((yaml.safe_load(path.read_text()) or {}).keys())


def _plain(value):
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {}
    for name in ("recbole", "torch", "numpy", "scipy", "pandas", "faiss-cpu"):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


# --- results and the table --------------------------------------------------------------------


def load_results(path: Path) -> dict:
    """``path``'s results (none where there is no file), or :class:`PeersError` naming the
    file, and the line or field, where it is no results file of this script (damaged by hand,
    truncated): nothing is run or rewritten then."""
    if not path.is_file():
        return {"models": {}}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise PeersError(f"file {path}: not UTF-8 text ({error})") from None
    except json.JSONDecodeError as error:
        raise PeersError(
            f"file {path}, line {error.lineno}, column {error.colno}: not JSON ({error.msg}): "
            "repair it, or move it away to run every model again"
        ) from None
    _check_results(results, path)
    return results


def _check_results(results, path: Path) -> None:
    """:class:`PeersError` naming the field of ``results`` (read from ``path``) that is not as
    :func:`_main` writes it (what the table and the reruns read)."""

    def bad(field: str, expected: str):
        return PeersError(f"file {path}, field {field}: expected {expected}: repair or move it")

    def number(value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if not isinstance(results, dict):
        raise bad("(the whole file)", "a JSON object")
    if not isinstance(results.get("models"), dict):
        raise bad("'models'", "an object of model results")
    for key in ("split", "split_sha256"):
        if key in results and not isinstance(results[key], str):
            raise bad(repr(key), "a string")
    for name, record in results["models"].items():
        where = f"'models'.{name!r}"
        if not isinstance(record, dict):
            raise bad(where, "an object")
        if "error" in record:
            if not isinstance(record["error"], str):
                raise bad(f"{where}.'error'", "a string")
            continue
        for part, metrics in (("valid", ("ndcg@20",)), ("test", ("ndcg@20", "recall@20"))):
            if not isinstance(record.get(part), dict):
                raise bad(f"{where}.{part!r}", "an object of metrics")
            for metric in metrics:
                if not number(record[part].get(metric)):
                    raise bad(f"{where}.{part!r}.{metric!r}", "a number")
        for key in ("best_epoch", "epochs_run", "fit_seconds"):
            if not number(record.get(key)):
                raise bad(f"{where}.{key!r}", "a number")


def save_results(path: Path, results: dict) -> None:
    """Write atomically: a reader (or a stop) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, path)


def _metric(metrics: object, path: Path, part: str, name: str) -> float:
    """``metrics[part]["all"][name]`` of a run's metrics.json (``path``), a number, else
    :class:`PeersError` naming the file and the field (a file edited by hand, or cut short)."""
    value = metrics
    for key in (part, "all", name):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PeersError(
            f"{path}: field {part}.all.{name}: no number there (got {value!r}); kgrec train "
            "writes it: train the run again"
        )
    return value


def read_kgrec_run(run_dir: Path) -> tuple:
    """``(run, row)``: a finished ``kgrec train`` run (``load_run`` refuses a run that did not
    finish or is being trained) and its table row, or :class:`PeersError` naming ``--kgrec``.
    What can be checked without the split files: ``_main`` reads every ``--kgrec`` run so
    before anything is written under ``--out``; :func:`check_kgrec_split` follows."""
    from kgrec.errors import InputError
    from kgrec.experiment import load_run

    try:
        run = load_run(run_dir)
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (InputError, OSError, ValueError) as error:
        raise PeersError(f"--kgrec {run_dir}: no finished kgrec run there ({error})") from None
    info = run.info
    training = info.get("training", {})
    settings = info.get("settings", {})
    label = f"kgrec {info['model']}"
    if settings.get("objective") not in (None, "bpr"):
        label += f" ({settings['objective']})"
    others = other_domains(run)
    if others:
        label += f" {CROSS_DOMAIN_MARK.format(', '.join(others))}"
    path = run_dir / "metrics.json"
    return run, {
        "name": label,
        "other_domains": others,
        "valid_ndcg@20": _metric(metrics, path, "valid", "ndcg@20"),
        "test_ndcg@20": _metric(metrics, path, "test", "ndcg@20"),
        "test_recall@20": _metric(metrics, path, "test", "recall@20"),
        "epochs": f"{training.get('best_epoch', '?')}/{training.get('epochs_run', '?')}",
        "seconds": training.get("seconds"),
    }


def check_kgrec_split(run, run_dir: Path, split_dir: Path) -> None:
    """:class:`PeersError` unless the split ``run`` (read from ``run_dir``) was trained on (its
    experiment.pt) holds the pairs of ``split_dir``'s files."""
    maps, split = run.experiment.maps, run.experiment.split
    for part in SPLIT_FILES:
        pairs = getattr(split, part).tolist()
        used = {(maps.users[u], maps.item_ids[i]) for u, i in zip(*pairs, strict=True)}
        if used != set(read_split_file(split_dir / f"{part}.tsv")):
            raise PeersError(
                f"--kgrec {run_dir}: the run was trained on another split ({part} differs from "
                f"{split_dir / f'{part}.tsv'})"
            )


def kgrec_row(run_dir: Path, split_dir: Path) -> dict:
    """The table row of a finished ``kgrec train`` run on the same split files
    (:func:`read_kgrec_run`, then :func:`check_kgrec_split`)."""
    run, row = read_kgrec_run(run_dir)
    check_kgrec_split(run, run_dir, split_dir)
    return row


# A kgrec row of a model trained on other domains' interactions too (``lightgcn-merged``,
# ``cross-domain``, ...): the split files, RecBole's whole training data, hold the target
# domain's only, so such a row is marked, and the table says why.
CROSS_DOMAIN_MARK = "[also trained on {}]"
CROSS_DOMAIN_NOTE = (
    "Rows marked [also trained on ...]: kgrec's model also trained on those domains' "
    "interactions, which the RecBole models never see (they train on the split files, the "
    "target domain's only): a cross-domain result beside single-domain ones, not a like-for-like "
    "comparison."
)


def other_domains(run) -> list[str]:
    """The domains other than the target whose interactions ``run`` (a :class:`kgrec.experiment.
    Run`) trained on: none for a model of the target domain alone."""
    import torch

    from kgrec.models.registry import MODELS

    experiment = run.experiment
    split, data = experiment.split, experiment.data
    if not MODELS[run.info["model"]].all_domains:
        return []
    pairs = split.training_interactions(data, all_domains=True)
    domains = torch.unique(data["item"].domain[pairs[1]]).tolist()
    return [experiment.maps.domains[d] for d in domains if d != split.target_domain]


def peer_row(name: str, record: dict) -> dict:
    if "error" in record:
        return {"name": f"RecBole {name}", "error": record["error"]}
    return {
        "name": f"RecBole {name}",
        "valid_ndcg@20": record["valid"]["ndcg@20"],
        "test_ndcg@20": record["test"]["ndcg@20"],
        "test_recall@20": record["test"]["recall@20"],
        "epochs": f"{record['best_epoch']}/{record['epochs_run']}",
        "seconds": record["fit_seconds"],
    }


def table(rows: list[dict]) -> str:
    """A markdown table: model, valid NDCG@20, test NDCG@20, test Recall@20, epochs, seconds."""
    lines = [
        "| model | valid NDCG@20 | test NDCG@20 | test Recall@20 | epochs (best/run) | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['name']} | failed: {row['error']} | | | | |")
            continue
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.0f}"
        lines.append(
            f"| {row['name']} | {row['valid_ndcg@20']:.4f} | {row['test_ndcg@20']:.4f} | "
            f"{row['test_recall@20']:.4f} | {row['epochs']} | {seconds} |"
        )
    if any(row.get("other_domains") for row in rows):
        lines += ["", CROSS_DOMAIN_NOTE]
    return "\n".join(lines)


def parse_overrides(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items as a dict, each VALUE parsed as JSON where it parses."""
    found = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise PeersError(f"--set {item!r}: expected KEY=VALUE")
        try:
            found[key] = json.loads(text)
        except json.JSONDecodeError:
            found[key] = text
    return found


def place_split(out: Path, write: Callable[[Path], None], hint: str) -> Path:
    """``OUT/split``: the split files ``write(folder)`` writes, made in a temporary folder and
    moved into place only once checked. A :class:`PeersError` (``hint`` says what may differ)
    where ``OUT/split`` holds another split's files or ``OUT/peers.json`` results of another
    split: both are left as they were, and nothing is written."""
    split_dir = out / "split"
    results_path = out / RESULTS_FILE
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "split"
        write(made)
        checksum = split_checksum(made)
        there = split_dir.exists() or split_dir.is_symlink()
        if there and (not split_dir.is_dir() or split_checksum(split_dir) != checksum):
            raise PeersError(
                f"{out} holds another split's files and results ({hint}): give another --out"
            )
        check_same_split(load_results(results_path), checksum, results_path)
        if split_dir.is_dir():
            return split_dir
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=out, prefix=".split-"))  # beside it: one rename
        try:
            shutil.copytree(made, stage / "split")
            os.replace(stage / "split", split_dir)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return split_dir


def make_split(args: argparse.Namespace, out: Path) -> Path:
    """``OUT/split``: kgrec's split files for ``--data``/``--protocol``/``--seed`` (as ``kgrec
    split``), placed by :func:`place_split`."""
    from kgrec.data.split import write_split
    from kgrec.experiment import effective_rule, load_experiment

    experiment = load_experiment(
        data=args.data, store=None, protocol=args.protocol, split_dir=None, seed=args.seed
    )
    # split.json records the rule the data was read with, as kgrec split's does: without it
    # (before), kgrec train --split OUT/split --data read ml-1m as one domain
    rule = effective_rule(args.protocol, args.data, None, None)
    return place_split(
        out,
        lambda folder: write_split(experiment.split, experiment.maps, folder, domain_rule=rule),
        "another --seed or --protocol",
    )


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` above 0 (finite), else argparse's error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def _threads(text: str) -> int:
    """An argparse type: a thread count from 1 to what this machine lets a process start
    (:func:`kgrec.threads.most_threads`: the most torch takes, the kernel's threads-max, the
    user's ``ulimit -u``), else argparse's error: the worker's ``torch.set_num_threads`` takes
    no more, and OpenMP starts every thread at its first parallel region. Parsed where kgrec
    is, never in the worker (RecBole's environment has no kgrec)."""
    from kgrec.threads import most_threads

    threads = _positive(int)(text)
    most, why = most_threads()
    if threads > most:
        raise argparse.ArgumentTypeError(f"expected at most {most}, {why}, got {text!r}")
    return threads


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--split", type=Path, help="folder of kgrec split files")
    source.add_argument("--data", type=Path, help="dataset folder: make the split with kgrec")
    parser.add_argument("--protocol", help="with --data (default ml100k-kg)")
    parser.add_argument("--seed", type=int, help="with --data: split seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--venv", type=Path, default=None, help="RecBole environment")
    parser.add_argument("--threads", type=_threads, default=1, help="torch/OMP threads (default 1)")
    parser.add_argument(
        "--epochs", type=_positive(int), default=None, help="most epochs (default RecBole's 300)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a RecBole setting for every model run (VALUE as JSON, else a string)",
    )
    parser.add_argument("--timeout", type=_positive(float), default=None, help="seconds per model")
    parser.add_argument("--rerun", action="store_true", help="run models already in the JSON")
    parser.add_argument("--kgrec", type=Path, nargs="*", default=[], metavar="RUN_DIR")
    args = parser.parse_args(argv)
    if args.split is not None:  # before, taken and ignored: the files are the split
        given = [f"--{name}" for name in ("protocol", "seed") if getattr(args, name) is not None]
        if given:
            parser.error(
                f"{' and '.join(given)} make the split with --data; --split {args.split} "
                "names split files already made"
            )
    args.protocol = "ml100k-kg" if args.protocol is None else args.protocol
    args.seed = 0 if args.seed is None else args.seed
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]))
        return 0
    args = parse_args(argv)
    from kgrec.errors import KgrecError

    try:
        return _main(args)
    except (PeersError, KgrecError) as error:  # kgrec's: making the split (--data)
        print(f"error: {error}", file=sys.stderr)
        return 2


def check_out(out: Path) -> None:
    """:class:`PeersError` where ``out`` (``--out``), or the nearest of its parents that is
    there, is no folder: the results could not be written there."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise PeersError(f"--out {out}: {folder} is a file, not a folder")
            return


def _main(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set)  # before, after OUT/split and OUT/recbole were written
    python = recbole_python(args.venv or default_venv())
    out = args.out.resolve()
    check_out(out)
    run_dirs = [run.resolve() for run in args.kgrec]
    runs = [read_kgrec_run(run_dir) for run_dir in run_dirs]  # before anything is written
    split_dir = args.split.resolve() if args.split is not None else make_split(args, out)
    for run_dir, (run, _) in zip(run_dirs, runs, strict=True):
        check_kgrec_split(run, run_dir, split_dir)
    results_path = out / RESULTS_FILE
    results = load_results(results_path)
    checksum = split_checksum(split_dir)
    check_same_split(results, checksum, results_path)  # before the benchmark files change
    data_path = out / "recbole"
    configs = {
        name: recbole_config(
            data_path, out / "runs" / name, name, args.threads, args.epochs, overrides
        )
        for name in args.models
    }
    done = {
        name
        for name in args.models
        if name in results["models"] and "error" not in results["models"][name]
    }
    for name in [] if args.rerun else sorted(done):  # before, reused whatever it ran with
        check_same_settings(
            results["models"][name],
            configs[name],
            name,
            results_path,
            "--rerun runs it again with these, or give another --out",
        )
    counts = write_benchmark(split_dir, data_path / DATASET)
    results.update(
        split=str(split_dir), split_sha256=checksum, interactions=counts, settings=SETTINGS
    )
    for name in args.models:
        if name in done and not args.rerun:
            print(f"{name}: in {results_path} already (--rerun to run it again)")
            continue
        print(f"{name}: training ...", flush=True)
        config = configs[name]
        record = run_peer(python, config, out / "runs" / name, args.timeout)
        results["models"][name] = record
        save_results(results_path, results)
        print(table([peer_row(name, record)]).splitlines()[-1], flush=True)
    rows = [row for _, row in runs] + [peer_row(n, r) for n, r in results["models"].items()]
    print(f"\n{split_dir}: {counts}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
