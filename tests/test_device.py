"""--device: auto, cpu or cuda; CUDA asked for where there is none is a clear error (exit 2)."""

from __future__ import annotations

import pytest
import torch

from kgrec.cli import main
from kgrec.device import resolve_device
from kgrec.errors import InputError


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_and_auto_without_a_gpu(no_cuda) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_cuda_without_a_gpu_is_an_input_error(no_cuda) -> None:
    with pytest.raises(InputError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.parametrize("device", [torch.device("cpu"), 0, b"cpu"])
def test_a_device_that_is_no_name_is_an_input_error(tmp_path, tiny_recbole, device) -> None:
    """train(device=torch.device("cpu")) raised an AttributeError ('torch.device' object has
    no attribute 'strip') from inside the device check; it is now an InputError naming
    --device, before anything is written."""
    with pytest.raises(InputError, match="device must be a name") as raised:
        resolve_device(device)
    assert raised.value.field == "--device"
    from kgrec.experiment import train

    out = tmp_path / "run"
    with pytest.raises(InputError, match="device must be a name"):
        train("mf", protocol="ml1m-action-comedy", data=tiny_recbole, out=out, device=device)
    assert not out.exists()


@pytest.mark.parametrize("available", [True, False])
def test_a_device_index_of_a_digit_int_does_not_read_is_unknown(monkeypatch, available) -> None:
    """--device cuda:² (a digit to str.isdigit, not to int()) is an unknown device, as cuda:x
    is, with a GPU or without one; before, with a GPU, a traceback (ValueError: invalid literal
    for int()), and without one the error of a GPU missing."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for bad in ("cuda:²", "cuda:1²", "cuda:x"):
        with pytest.raises(InputError, match="unknown device") as raised:
            resolve_device(bad)
        assert raised.value.field == "--device" and repr(bad) in str(raised.value)


@pytest.mark.parametrize("available", [True, False])
def test_a_device_index_of_other_scripts_digits_is_unknown_as_to_torch(
    monkeypatch, available
) -> None:
    """torch.device reads an index of ASCII digits only ('cuda:٣', ARABIC-INDIC DIGIT THREE,
    is an invalid device string to it): kgrec's device names follow it, refusing 'cuda:٣' as
    it refuses 'cuda:x'; before, int() read it as cuda:3, with a GPU (found by the rel50
    review)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    for bad in ("cuda:\u0663", "cuda:\uff13"):  # full-width too
        with pytest.raises(RuntimeError, match="Invalid device string"):
            torch.device(bad)
        with pytest.raises(InputError, match="unknown device") as raised:
            resolve_device(bad)
        assert raised.value.field == "--device" and repr(bad) in str(raised.value)
    if available:
        assert resolve_device("cuda:3") == torch.device("cuda", 3) == torch.device("cuda:3")


@pytest.mark.parametrize("available", [True, False])
def test_a_device_index_torch_refuses_is_unknown(monkeypatch, available) -> None:
    """torch.device reads an index as 0 or a digit 1-9 and more digits after it ('cuda:01',
    'cuda:00', 'cuda:' are invalid device strings to it): kgrec's device names follow it;
    before, int() read 'cuda:01' as cuda:1 and 'cuda:00' as cuda:0, and 'cuda:' was plain
    cuda (found by the rev50 review)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for bad in ("cuda:01", "cuda:00", "cuda:010", "cuda:", "cpu:01", "cpu:"):
        with pytest.raises(RuntimeError, match="Invalid device string"):
            torch.device(bad)
        with pytest.raises(InputError, match="unknown device") as raised:
            resolve_device(bad)
        assert raised.value.field == "--device" and repr(bad) in str(raised.value)
    assert resolve_device("cpu:0") == torch.device("cpu")
    if available:
        for good in ("cuda:0", "cuda:1"):
            assert resolve_device(good) == torch.device(good)


@pytest.mark.parametrize("available", [True, False])
def test_case_and_blanks_around_a_device_name_are_ignored(monkeypatch, available) -> None:
    """The Python API's device= reads ' CUDA:1 ' as cuda:1 and 'CPU' as cpu, which
    torch.device refuses (a decision, pinned here: it was carried as found, not decided); an
    unknown name is named as given, not as kgrec lowered it ('TPU', not 'tpu')."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for torch_refuses in (" CUDA:1 ", "CPU"):
        with pytest.raises(RuntimeError):
            torch.device(torch_refuses)
    assert resolve_device("CPU") == resolve_device(" cpu\t") == torch.device("cpu")
    if available:
        assert resolve_device(" CUDA:1 ") == torch.device("cuda", 1)
        assert resolve_device("Auto") == torch.device("cuda", 0)
    else:
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device(" CUDA:1 ")
    for bad in ("TPU", " Cuda:01 "):
        with pytest.raises(InputError, match="unknown device") as raised:
            resolve_device(bad)
        assert repr(bad) in str(raised.value)


def test_cuda_under_local_rank_minus_one_is_the_first_gpu(monkeypatch) -> None:
    """LOCAL_RANK=-1 (some launchers' "not distributed") gave torch.device("cuda", -1): a
    RuntimeError, "Device index must not be negative"."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "-1")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)


@pytest.mark.parametrize("command", ["train", "evaluate", "recommend"])
def test_the_commands_refuse_cuda_without_a_gpu(no_cuda, tmp_path, tiny_recbole, capsys, command):
    if command == "train":
        argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-action-comedy"]
        argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "run"), "--epochs", "1"]
    else:
        argv = [command, "--run", str(tmp_path / "run")]
        assert (
            main(
                [
                    "train",
                    "--model",
                    "popularity",
                    "--protocol",
                    "ml1m-action-comedy",
                    "--data",
                    str(tiny_recbole),
                    "--out",
                    str(tmp_path / "run"),
                ]
            )
            == 0
        )
        capsys.readouterr()
        if command == "recommend":
            argv += ["--export", str(tmp_path / "top.csv")]
    assert main([*argv, "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "top.csv").exists()


def test_a_run_records_where_it_trained(tmp_path, tiny_recbole) -> None:
    from kgrec.experiment import load_run, train

    run = train(
        "lightgcn",
        protocol="ml1m-action-comedy",
        data=tiny_recbole,
        out=tmp_path / "run",
        epochs=1,
        dim=8,
        progress=False,
        device="cpu",
    )
    environment = run.info["environment"]
    assert environment["device"] == "cpu" and environment["world_size"] == 1
    assert environment["threads"] == torch.get_num_threads()
    assert "device" not in run.settings  # where it ran is no setting: resume may move it
    assert next(load_run(tmp_path / "run", device="cpu").model.parameters()).device.type == "cpu"


def _save_as_if_on_cuda(path) -> None:
    """Save ``path``'s tensors again as a run trained on a GPU saved them: storages tagged
    ``cuda:0`` (a tagger of our own, removed after), which a machine without CUDA can read
    only onto the CPU."""
    import torch.serialization as serialization

    state = torch.load(path, weights_only=True)
    entry = (-1000, lambda storage: "cuda:0", lambda obj, location: None)
    serialization._package_registry.insert(0, entry)
    try:
        torch.save(state, path)
    finally:
        serialization._package_registry.remove(entry)


def test_a_run_trained_on_a_gpu_is_evaluated_without_one(
    no_cuda, tmp_path, tiny_recbole, capsys, text_store
) -> None:
    # before: model.pt and student.pt were read without map_location, so a run trained with
    # --device cuda could not be evaluated or served on a machine without CUDA ("the trained
    # model cannot be read: it is damaged (truncated?) or not this run's", exit 2)
    from kgrec.experiment import load_run, train

    small = {"epochs": 2, "dim": 8, "batch_size": 128, "progress": False}
    runs = {
        "lightgcn": train(
            "lightgcn",
            protocol="ml1m-action-comedy",
            data=tiny_recbole,
            out=tmp_path / "a",
            **small,
        ),
        "student": train(
            "lightgcn",
            protocol="ml1m-new-items",
            store=text_store,
            out=tmp_path / "b",
            cold_items="student",
            **small,
        ),
    }
    for name, run in runs.items():
        before = run.evaluate()
        _save_as_if_on_cuda(run.folder / "model.pt")
        if name == "student":
            _save_as_if_on_cuda(run.folder / "student.pt")
        with pytest.raises(RuntimeError, match="CUDA"):  # the files are a GPU run's
            torch.load(run.folder / "model.pt", weights_only=True)
        assert load_run(run.folder, device="cpu").evaluate() == before
        capsys.readouterr()
        assert main(["evaluate", "--run", str(run.folder), "--device", "cpu"]) == 0
        assert f"{before['test']['all']['ndcg@20']:.4f}" in capsys.readouterr().out
