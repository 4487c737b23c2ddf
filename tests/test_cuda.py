"""The CUDA path on a real GPU; skipped where torch sees none (CI's machines have none).

Elsewhere every test that trains without ``device=`` runs on the GPU where there is one
(``auto``); these check what only a GPU can: that a run trained there scores as it does when
read onto the CPU, and that a run moves between the devices when it is resumed or served.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from kgrec.cli import main
from kgrec.experiment import load_run, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")

SMALL = {"epochs": 3, "dim": 8, "batch_size": 128, "progress": False}

MODELS = [
    ("lightgcn", {}),
    ("lightgcn", {"objective": "softmax", "cl_weight": 0.1}),
    ("lightgcn", {"objective": "softmax", "text_input": "add", "text_cl_weight": 0.1}),
    ("lightgcn-merged", {"objective": "softmax", "cold_start_share": 0.5}),
    ("rgcn", {}),
    ("cross-domain", {"objective": "softmax"}),
    ("ease", {"ease_text_weight": 1.0}),
]


def _ndcg(metrics: dict) -> list[float]:
    return [metrics[phase][group]["ndcg@20"] for phase in ("valid", "test") for group in ("all",)]


@pytest.mark.parametrize("model, options", MODELS, ids=lambda v: str(v))
def test_a_run_trained_on_the_gpu_scores_the_same_on_the_cpu(tmp_path, text_store, model, options):
    run = train(
        model,
        protocol="ml1m-action-comedy",
        store=text_store,
        out=tmp_path / "run",
        device="cuda",
        **SMALL,
        **options,
    )
    assert run.info["environment"]["device"] == "cuda:0"
    assert run.info["environment"]["device_name"] == torch.cuda.get_device_name(0)
    on_gpu = run.evaluate()
    on_cpu = load_run(run.folder, device="cpu").evaluate()
    assert _ndcg(on_cpu) == pytest.approx(_ndcg(on_gpu), abs=1e-4)


def test_a_cpu_run_resumes_and_serves_on_the_gpu(tmp_path, tiny_store, capsys):
    common = {"protocol": "ml1m-action-comedy", "store": tiny_store, "out": tmp_path / "run"}
    first = train("lightgcn-merged", **common, **{**SMALL, "epochs": 2}, device="cpu")
    assert first.info["environment"]["device"] == "cpu"
    resumed = train("lightgcn-merged", **common, **SMALL, resume=True, device="cuda")
    assert resumed.info["environment"]["device"] == "cuda:0"
    assert resumed.info["training"]["epochs_run"] == 3
    capsys.readouterr()
    argv = ["recommend", "--run", str(resumed.folder), "-k", "5", "--device"]
    assert main([*argv, "cuda", "--export", str(tmp_path / "gpu.csv")]) == 0
    assert main([*argv, "cpu", "--export", str(tmp_path / "cpu.csv")]) == 0
    gpu, cpu = (pd.read_csv(tmp_path / f"{name}.csv") for name in ("gpu", "cpu"))
    assert len(gpu) > 5
    # the same lists; the scores agree to float32's rounding (on an H200 in session 34 they
    # differed from the 8th significant digit)
    columns = ["user_id", "item_uid", "rank"]
    pd.testing.assert_frame_equal(gpu[columns], cpu[columns])
    assert gpu["score"].to_numpy() == pytest.approx(cpu["score"].to_numpy(), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("cold_items", ["student", "text"])
def test_new_items_served_on_the_gpu_score_the_same_on_the_cpu(tmp_path, text_store, cold_items):
    # tests/test_cold_items.py runs on the CPU (its checks compare with CPU tensors bit for
    # bit): this is the new-item path on a GPU, its item groups and its student included
    options = {"text_input": "add"} if cold_items == "text" else {}
    run = train(
        "lightgcn",
        protocol="ml1m-new-items",
        store=text_store,
        out=tmp_path / "run",
        device="cuda",
        cold_items=cold_items,
        **SMALL,
        **options,
    )
    on_gpu = run.evaluate()
    on_cpu = load_run(run.folder, device="cpu").evaluate()
    for phase in ("valid", "test"):
        for group in ("all", "warm-items", "new-items"):
            assert on_cpu[phase][group]["ndcg@20"] == pytest.approx(
                on_gpu[phase][group]["ndcg@20"], abs=1e-4
            ), (phase, group)


def test_a_run_fine_tuned_on_the_gpu_starts_from_a_cpu_runs_parameters(tmp_path, tiny_store):
    common = {"protocol": "ml1m-action-comedy", "store": tiny_store, **SMALL}
    source = train("lightgcn-merged", out=tmp_path / "source", device="cpu", **common)
    tuned = train(
        "lightgcn-merged", out=tmp_path / "tuned", device="cuda", init_from=source.folder, **common
    )
    assert tuned.info["init_from"]["copied"]
    assert tuned.info["environment"]["device"] == "cuda:0"
    assert load_run(tuned.folder, device="cpu").evaluate()["test"]["all"]["ndcg@20"] >= 0


def test_a_cross_domain_model_is_made_from_and_reset_on_the_gpu():
    """A GPU ``item_domain`` met the CPU tensors the constructor joins it with, and
    ``reset_parameters()`` of a model on the GPU added a CPU identity to its domain-adaptive
    layers' weights: each a mixed-device error (found by the models59 review; written on a
    machine without a GPU, so not seen failing before the fix)."""
    from kgrec.models import CrossDomainRecommender

    item_domain = torch.tensor([0, 1, 0, 1], device="cuda")
    model = CrossDomainRecommender(3, 4, 2, 3, 2, item_domain=item_domain, embedding_dim=8)
    model = model.cuda()
    model.reset_parameters()
    edge_index = torch.tensor([[0, 1, 2], [3, 4, 5]], device="cuda")
    edge_type = torch.zeros(3, dtype=torch.long, device="cuda")
    assert torch.isfinite(model(edge_index, edge_type)).all()
