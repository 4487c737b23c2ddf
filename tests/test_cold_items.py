"""New items served by a content student distilled from the trained model (kgrec.cold_items)."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import kgrec.experiment
import kgrec.models.base
from kgrec.cli import main
from kgrec.cold_items import (
    ATTRIBUTE_WEIGHT,
    MEMBERS,
    SCALES,
    YEAR_BINS,
    ContentStudent,
    ItemAttributes,
    StudentEnsemble,
    StudentItems,
    distil,
    item_entities,
    restore_student,
)
from kgrec.data.export import to_hetero_data
from kgrec.errors import InputError
from kgrec.experiment import build_run, load_run, train
from kgrec.foldin import fold_in_users
from kgrec.models.layers import TextInput
from kgrec.ranking import embeddings
from kgrec.store import LocalStore, open_store
from loaders import recbole
from loaders.rules import named_rule

SMALL = {"epochs": 3, "dim": 8, "batch_size": 128, "progress": False}
# These compare runs with tensors built on the CPU and forward passes bit for bit: on a GPU
# they failed on devices and last bits (session 36), not on the scores, which test_cuda.py
# compares.
pytestmark = pytest.mark.usefixtures("on_the_cpu")
NEW_ITEMS = {"protocol": "ml1m-new-items", "model": "lightgcn"}


@pytest.fixture
def tables(tiny_recbole):
    return recbole.load(tiny_recbole, domain_rule=named_rule("ml1m-action-comedy"))


@pytest.fixture
def kg_store(tmp_path, tables, write_text_store) -> str:
    """As ``text_store``, with each item linked to two of 12 entities by a knowledge edge."""
    rng = np.random.default_rng(1)
    uids = sorted(tables.items["uid"])
    rows = [
        ("Item", uid, "film.genre", "Entity", f"e{int(e)}")
        for uid in uids
        for e in rng.choice(12, size=2, replace=False)
    ]
    tables.entities = pd.DataFrame({"entity_id": [f"e{e}" for e in range(12)]})
    tables.knowledge = pd.DataFrame(
        rows, columns=["head_kind", "head_key", "relation", "tail_kind", "tail_key"]
    )
    return write_text_store(tmp_path / "kg-store", tables)


def test_the_student_learns_embeddings_from_content():
    generator = torch.Generator().manual_seed(0)
    text = torch.randn(300, 8, generator=generator)
    targets = torch.nn.functional.normalize(text, dim=1) @ torch.randn(8, 4, generator=generator)
    torch.manual_seed(0)
    student = ContentStudent(text, 4, hidden_channels=32)
    record = distil(student, targets, torch.arange(250), seed=0)
    assert record["items_fitted"] + record["items_held_out"] == 250
    assert record["held_out_mse"] < 0.1 * record["held_out_mse_before"]
    assert record["held_out_cosine"] > 0.95
    # items it never saw get the embedding their content implies
    with torch.no_grad():
        unseen = student(torch.arange(250, 300))
    cosine = torch.nn.functional.cosine_similarity(unseen, targets[250:], dim=1)
    assert cosine.mean() > 0.9
    assert not student.training


def test_attributes_encode_genres_and_year_bins_of_the_catalogue(make_graph):
    years = [1950 + 2 * n for n in range(24)] + [None]  # 24 known years, one unknown
    items = [
        {"domain": "films", "item_id": str(n), "year": year, "genres": ["Drama"]}
        for n, year in enumerate(years)
    ]
    items[0]["genres"] = ["Drama", "Noir"]
    items[24]["genres"] = []
    data, maps = to_hetero_data(make_graph(items=items))
    assert maps.genres == ("Drama", "Noir")
    assert torch.isnan(data["item"].year).sum() == 1
    encoder = ItemAttributes.from_data(data, maps.genres)
    assert encoder.genres == ("Drama", "Noir")
    assert encoder.year_cuts.numel() == YEAR_BINS - 1
    matrix = encoder.matrix(data, maps.genres)
    index = {item_id: n for n, item_id in enumerate(maps.item_ids)}
    assert matrix.shape == (25, 2 + YEAR_BINS)
    norms = matrix.norm(dim=1)
    assert torch.allclose(norms[norms > 0], torch.tensor(ATTRIBUTE_WEIGHT))
    assert (matrix[index["24"]] == 0).all()  # no year, no genre: nothing to read
    bins = matrix[:, 2:].argmax(1)
    ordered = [int(bins[index[str(n)]]) for n in range(24)]
    assert ordered == sorted(ordered) and ordered[0] == 0 and ordered[-1] == YEAR_BINS - 1
    assert len(set(ordered)) == YEAR_BINS  # quantile bins: two years each
    assert matrix[index["0"], :2].tolist() == pytest.approx(
        [ATTRIBUTE_WEIGHT / 3**0.5] * 2
    )  # 2 genres, 1 year
    # an item loaded later: a year past the catalogue's falls in the last bin; an unknown
    # genre is left out
    later = encoder.encode(torch.tensor([2030.0, float("nan")]), [["Noir", "Opera"], ["Opera"]])
    assert later[0, 1] > 0 and later[0, 2 + YEAR_BINS - 1] > 0 and later[0, 0] == 0
    assert (later[1] == 0).all()
    with pytest.raises(ValueError, match="beside n genre lists"):
        encoder.encode(torch.tensor([2000.0]), [])


def test_a_year_of_an_item_loaded_later_is_not_read_where_the_catalogue_has_none(make_graph):
    # before: it set the year column, whose weights the student never trained (every item of
    # the catalogue reads 0 there), and shrank its genres' entries beside it
    items = [
        {"domain": "d", "item_id": str(n), "genres": ["Drama", "Noir"][: n % 2 + 1]}
        for n in range(4)
    ]
    data, maps = to_hetero_data(make_graph(items=items))
    encoder = ItemAttributes.from_data(data, maps.genres)
    assert encoder.year_cuts.numel() == 0
    assert (encoder.matrix(data, maps.genres)[:, 2:] == 0).all()
    later = encoder.encode(torch.tensor([1999.0, float("nan")]), [["Noir"], ["Noir"]])
    assert torch.equal(later[0], later[1])
    assert later[0].tolist() == [0.0, ATTRIBUTE_WEIGHT, 0.0]


def test_a_catalogue_without_years_or_genres_has_no_attributes(make_graph):
    data, maps = to_hetero_data(make_graph(items=[{"domain": "d", "item_id": "a"}]))
    assert ItemAttributes.from_data(data, maps.genres) is None


def test_the_student_reads_attributes_beside_the_text():
    """Embeddings that follow the attributes alone: only a student that reads them places
    items it never saw."""
    generator = torch.Generator().manual_seed(0)
    text = torch.randn(300, 8, generator=generator)  # says nothing about the targets
    attributes = torch.nn.functional.one_hot(torch.arange(300) % 6, 6).float()
    targets = attributes @ torch.randn(6, 4, generator=generator)
    unseen = torch.arange(250, 300)
    cosines = {}
    for name, given in (("with", attributes), ("without", None)):
        torch.manual_seed(0)
        student = ContentStudent(text, 4, attributes=given, hidden_channels=32)
        assert student.reads_attributes == (given is not None)
        distil(student, targets, torch.arange(250), seed=0)
        with torch.no_grad():
            out = student(unseen)
        cosines[name] = float(torch.cosine_similarity(out, targets[unseen], dim=1).mean())
        if given is not None:  # an item outside the table, from its text and attributes
            with torch.no_grad():
                again = student.embed_text(text[unseen], attributes[unseen])
            assert torch.allclose(again, out, atol=1e-6)
    assert cosines["with"] > 0.9 > 0.5 > cosines["without"]
    with pytest.raises(ValueError, match="attributes must be"):
        ContentStudent(text, 4, attributes=attributes[:10])


def test_the_ensemble_averages_its_members():
    text = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))  # not what ran before
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        members.append(ContentStudent(text, 3).eval())
    ensemble = StudentEnsemble(members)
    with torch.no_grad():
        outputs = torch.stack([member() for member in members])
        assert not torch.allclose(outputs[0], outputs[1])  # initialised apart
        assert torch.allclose(ensemble(), outputs.mean(0))
        # two rows run other kernels than twenty: the same to rounding, as embed_text's
        assert torch.allclose(ensemble(torch.tensor([4, 2])), outputs.mean(0)[[4, 2]], atol=1e-6)
        assert torch.allclose(ensemble.embed_text(text[:2]), outputs.mean(0)[:2], atol=1e-6)
    with pytest.raises(ValueError, match="share their items"):
        StudentEnsemble([members[0], ContentStudent(torch.randn(20, 5), 4)])
    with pytest.raises(ValueError, match="at least one member"):
        StudentEnsemble([])


def test_an_input_column_no_fitted_item_has_says_nothing():
    """Before, a genre only new items had kept the first layer's random initial weights (no
    gradient reaches them), so a new item with that genre got a random push from them."""
    torch.manual_seed(0)
    text = torch.randn(12, 4)
    attributes = torch.zeros(12, 3)
    attributes[:10, 0] = 1.0  # a genre of the warm items
    attributes[::3, 1] = 1.0  # one of warm items and the new item 9
    attributes[10:, 2] = 1.0  # a genre only the new items 10 and 11 have
    targets, warm = torch.randn(12, 2), torch.arange(10)
    first = ContentStudent(text, 2, attributes=attributes, hidden_channels=8)
    second = copy.deepcopy(first)
    with torch.no_grad():
        second.mlp[0].weight[:, 4 + 2] += torch.randn(8)  # another random start of the column
    for student in (first, second):
        distil(student, targets, warm, max_epochs=20)
    with torch.no_grad():
        assert torch.equal(first(), second())
        new = first.embed_text(text[10:], attributes[10:])
        assert torch.equal(new, second.embed_text(text[10:], attributes[10:]))
        assert not first.mlp[0].weight[:, 4 + 2].any()
        assert first.mlp[0].weight[:, 4 + 1].all()  # a column fitted items have is kept


def test_distil_needs_two_items():
    student = ContentStudent(torch.randn(5, 3), 2)
    with pytest.raises(ValueError, match="at least 2 items"):
        distil(student, torch.randn(5, 2), torch.tensor([0]))


def test_served_items_take_the_students_embedding_and_warm_items_keep_the_teachers(
    tmp_path, text_store
):
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    assert isinstance(run.model, StudentItems)
    graph, split = run.graph, run.experiment.split
    new = split.new_items(graph.item_domain)
    record = json.loads((run.folder / "run.json").read_text())["cold_items"]
    assert record["served_target_items"] == int(new.sum()) > 0
    assert record["distillation"]["held_out_mse"] <= record["distillation"]["held_out_mse_before"]
    assert set(record["valid_ndcg@20_by_scale"]) == {str(s) for s in SCALES}
    figures = record["valid_ndcg@20_by_scale"]
    assert figures[str(record["scale"])] == max(figures.values())
    assert set(record["teacher"]["test"]) >= {"all", "new-only"}

    teacher_users, teacher_items = embeddings(run.model.teacher, graph)
    users, items = embeddings(run.model, graph)
    assert torch.equal(users, teacher_users)
    assert torch.equal(items[~run.model.served], teacher_items[~run.model.served])
    assert run.model.served[new].all()
    student = run.model.student
    assert len(student.members) == MEMBERS == record["distillation"]["members"]
    assert len({float(m.mlp[0].weight[0, 0].detach()) for m in student.members}) == MEMBERS
    with torch.no_grad():
        want = record["scale"] * student(new.nonzero().flatten())
    # the student runs on all items there and on the new ones here: float32 sums in another
    # order (7e-8 apart on one CPU, past allclose's default near 0): float32's tolerance
    assert torch.allclose(items[new], want, atol=1e-6)
    assert not torch.allclose(items[new], teacher_items[new])
    # a new item's embedding is its text's: other text, another embedding
    item = int(new.nonzero()[0])
    for member in student.members:
        member.inputs[item] = torch.nn.functional.normalize(
            torch.ones(member.inputs.size(1)), dim=0
        )
    moved = embeddings(run.model, graph)[1]
    assert not torch.allclose(moved[item], items[item])
    others = torch.arange(len(items)) != item
    assert torch.equal(moved[others], items[others])


def test_the_served_run_loads_back_the_same(tmp_path, text_store):
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    assert (run.folder / "student.pt").exists()
    loaded = load_run(run.folder)
    assert isinstance(loaded.model, StudentItems)
    assert loaded.model.scale == run.model.scale
    for mine, theirs in zip(
        embeddings(run.model, run.graph),
        embeddings(loaded.model, loaded.graph),
        strict=True,
    ):
        assert torch.allclose(mine, theirs)
    saved = json.loads((run.folder / "metrics.json").read_text())
    again = loaded.evaluate()
    for phase in ("valid", "test"):
        for group in ("all", "warm-items", "new-items", "new-only"):
            assert again[phase][group] == pytest.approx(saved[phase][group])
    # recommendations reach new items
    new = run.experiment.split.new_items(run.graph.item_domain)
    uids = {run.experiment.maps.items[i] for i in new.nonzero().flatten().tolist()}
    assert set(loaded.recommend(k=20)["item_uid"]) & uids


def test_a_finished_run_whose_student_file_was_deleted_says_so_and_how_to_restore_it(
    tmp_path, text_store, capsys
):
    # before: "... a content student that cannot be read ([Errno 2] No such file or
    # directory: ...)", where a missing model.pt says it is missing and how to write it again
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    (run.folder / "student.pt").unlink()
    capsys.readouterr()
    folder = str(run.folder)
    for argv in (["evaluate", "--run", folder], ["recommend", "--run", folder, "--show", "u1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert (
            f"file {run.folder / 'student.pt'}: the run's content student (--cold-items) is " in err
        )
        assert "missing (deleted or moved?): the kgrec train command that trained it, with " in err
        assert "--resume, writes it again from its checkpoint.pt" in err and "Errno" not in err
    # the remedy the error gives
    train(
        store=text_store,
        out=run.folder,
        cold_items="student",
        resume=True,
        **NEW_ITEMS,
        **SMALL,
    )
    assert isinstance(load_run(run.folder).model, StudentItems)
    (run.folder / "student.pt").unlink()
    (run.folder / "checkpoint.pt").unlink()
    with pytest.raises(InputError, match=r"no checkpoint\.pt .* train the run again"):
        load_run(run.folder)


@pytest.mark.parametrize("record", [None, 5, {}, {"scale": "x"}, {"scale": -1.0}])
def test_a_damaged_record_of_the_student_names_run_json_not_student_pt(
    tmp_path, text_store, capsys, record
):
    # before: "file RUN/student.pt: ... a content student that cannot be read ('cold_items')"
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    path = run.folder / "run.json"
    info = json.loads(path.read_text())
    if record is None:
        del info["cold_items"]
    else:
        info["cold_items"] = record
    path.write_text(json.dumps(info))
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run.folder)]) == 2
    err = capsys.readouterr().err
    assert f"file {path}, field 'cold_items.scale': run.json is damaged" in err
    assert "student.pt" not in err


def test_a_text_reading_run_with_an_experiment_without_text_names_experiment_pt(
    tmp_path, text_store, tiny_recbole, capsys
):
    # before: a bare AttributeError ('NoneType' object has no attribute 'size') for the
    # student, and "field '--text-input': ... give a --store" for --cold-items text
    plain = train(data=tiny_recbole, out=tmp_path / "plain", **NEW_ITEMS, **SMALL)
    for name, options in (
        ("student", {"cold_items": "student"}),
        ("text", {"cold_items": "text", "text_input": "add"}),
    ):
        run = train(store=text_store, out=tmp_path / name, **options, **NEW_ITEMS, **SMALL)
        shutil.copy(plain.folder / "experiment.pt", run.folder / "experiment.pt")
        capsys.readouterr()
        assert main(["evaluate", "--run", str(run.folder)]) == 2
        err = capsys.readouterr().err
        assert f"file {run.folder / 'experiment.pt'}: the run reads node text vectors" in err
        assert "another run's" in err


def test_a_student_saved_by_an_older_kgrec_loads(tmp_path, text_store):
    """Before attributes and members, a run saved one text-only MLP as ``mlp.*``."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    assert run.model.student.reads_attributes
    graph, teacher = run.graph, run.model.teacher
    items = slice(graph.num_users, graph.num_users + graph.num_items)
    old = ContentStudent(graph.x[items], run.model.student.out_channels).eval()
    state = old.state_dict()  # "mlp.0.weight", ...: one student, text only
    served = run.model.served
    attributes = run.model.student.members[0].inputs[:, graph.x.size(1) :]
    restored = restore_student(teacher, graph, state, 1.5, attributes=attributes)
    assert not restored.student.reads_attributes and len(restored.student.members) == 1
    assert torch.equal(restored.served, served)
    with torch.no_grad():
        want = 1.5 * old(served.nonzero().flatten())
    assert torch.allclose(embeddings(restored, graph)[1][served], want)
    with pytest.raises(ValueError, match="not a content student"):
        restore_student(teacher, graph, {"w": torch.zeros(1)}, 1.5)


def test_a_student_of_several_mlps_saved_at_bd1ccc1_loads(tmp_path, kg_store):
    """For one commit (bd1ccc1) a run saved one student that averaged its MLPs, ``mlps.K.*``,
    beside one entity table; such a run still serves new items as it did."""
    run = train(store=kg_store, out=tmp_path / "r", cold_items="student-kg", **NEW_ITEMS, **SMALL)
    graph, teacher, student = run.graph, run.model.teacher, run.model.student.members[0]
    inputs, entity_mean = student.inputs, student.entity_mean
    torch.manual_seed(3)
    mlps = [copy.deepcopy(student.mlp) for _ in range(3)]
    for mlp in mlps:
        for layer in (mlp[0], mlp[3]):
            layer.reset_parameters()
    entities = torch.randn(student.entities.num_embeddings, student.out_channels)
    state = {
        f"mlps.{k}.{key}": value
        for k, mlp in enumerate(mlps)
        for key, value in mlp.state_dict().items()
    }
    state["entities.weight"] = entities
    attributes = inputs[:, graph.x.size(1) :]
    restored = restore_student(
        teacher,
        graph,
        state,
        2.0,
        item_entity=item_entities(run.experiment.data),
        attributes=attributes,
    )
    assert len(restored.student.members) == 3
    served = run.model.served
    with torch.no_grad():
        kg = torch.sparse.mm(entity_mean, entities)
        want = torch.stack([mlp.eval()(inputs) for mlp in mlps]).mean(0) + kg
    assert torch.allclose(embeddings(restored, graph)[1][served], 2.0 * want[served], atol=1e-6)


def test_a_given_scale_is_used(tmp_path, text_store):
    run = train(
        store=text_store,
        out=tmp_path / "r",
        cold_items="student",
        cold_item_scale=2.0,
        **NEW_ITEMS,
        **SMALL,
    )
    record = json.loads((run.folder / "run.json").read_text())["cold_items"]
    assert record["scale"] == 2.0 and "valid_ndcg@20_by_scale" not in record
    new = run.experiment.split.new_items(run.graph.item_domain)
    with torch.no_grad():
        want = 2.0 * run.model.student(new.nonzero().flatten())
    assert torch.allclose(embeddings(run.model, run.graph)[1][new], want, atol=1e-6)


def test_the_knowledge_graph_student_uses_the_items_entities(tmp_path, kg_store):
    run = train(store=kg_store, out=tmp_path / "r", cold_items="student-kg", **NEW_ITEMS, **SMALL)
    student = run.model.student.members[0]
    assert student.entities is not None and student.entities.num_embeddings == 12
    # an entity linked to no item with training interactions was never fitted: still zero
    links = student.entity_mean.indices()
    trained = ~run.model.served
    warm_entities = links[1, trained[links[0]]].unique()
    untouched = torch.ones(12, dtype=torch.bool)
    untouched[warm_entities] = False
    assert (student.entities.weight[untouched] == 0).all()
    assert student.entities.weight[warm_entities].abs().sum() > 0
    loaded = load_run(run.folder)
    assert torch.allclose(
        embeddings(loaded.model, loaded.graph)[1], embeddings(run.model, run.graph)[1]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "lightgcn", "cold_items": "student", "data": "DATA"}, "give --store"),
        ({"model": "popularity", "cold_items": "student", "store": "STORE"}, "does not learn"),
        ({"model": "lightgcn", "cold_items": "teacher", "store": "STORE"}, "unknown cold_items"),
        (
            {"model": "lightgcn", "cold_items": "student", "store": "STORE", "cold_item_scale": 0},
            "positive number",
        ),
        # before: trained, and its own run.json was then refused by load_run as damaged
        (
            {
                "model": "lightgcn",
                "cold_items": "student",
                "store": "STORE",
                "cold_item_scale": True,
            },
            "positive number",
        ),
    ],
)
def test_bad_cold_item_settings_fail_before_anything_is_written(
    tmp_path, tiny_recbole, text_store, options, message
):
    options = dict(options)
    if options.get("data") == "DATA":
        options["data"] = tiny_recbole
    if options.get("store") == "STORE":
        options["store"] = text_store
    with pytest.raises(InputError, match=message) as error:
        train(protocol="ml1m-new-items", out=tmp_path / "r", **options, **SMALL)
    assert error.value.field.replace("_", "-") in ("--cold-items", "--cold-item-scale")
    assert not (tmp_path / "r").exists()


def test_the_knowledge_student_without_a_knowledge_graph_says_so(tmp_path, text_store, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(kgrec.experiment, "fit", never)
    with pytest.raises(InputError, match="no knowledge edge"):
        train(store=text_store, out=tmp_path / "r", cold_items="student-kg", **NEW_ITEMS, **SMALL)


def test_a_store_without_text_says_so(tmp_path, tables):
    store = f"local:{tmp_path / 'bare'}"
    with open_store(store) as opened:
        opened.write(tables, progress=False)
    with pytest.raises(InputError, match="kgrec embed"):
        train(store=store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)


def test_the_command_line_serves_new_items(tmp_path, text_store, capsys):
    out = tmp_path / "r"
    argv = ["train", "--model", "lightgcn", "--protocol", "ml1m-new-items", "--store", text_store]
    argv += ["--epochs", "2", "--dim", "8", "--cold-items", "student", "--out", str(out)]
    assert main(argv) == 0
    assert "content student (student)" in capsys.readouterr().out
    info = json.loads((out / "run.json").read_text())
    assert info["settings"]["cold_items"] == "student"
    assert info["settings"]["cold_item_scale"] is None
    assert main(["evaluate", "--run", str(out)]) == 0
    assert "new-items" in capsys.readouterr().out


def test_a_store_without_item_text_says_so_before_training(tmp_path, tables, monkeypatch):
    store = f"local:{tmp_path / 'users-only'}"
    users = sorted(tables.users["user_id"])
    with open_store(store) as opened:
        opened.write(tables, progress=False)
        opened.write_vectors("User", users, np.ones((len(users), 3)), property="embedding")
    monkeypatch.setattr(kgrec.experiment, "fit", None)  # never reached
    with pytest.raises(InputError, match="fewer than 2 items"):
        train(store=store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)


def test_a_store_whose_items_with_text_have_no_training_interaction_says_so_before_training(
    tmp_path, tables, monkeypatch
):
    # text on three action items only: lightgcn trains on comedy, so none of them is warm
    store = f"local:{tmp_path / 'action-text'}"
    action = sorted(tables.items.loc[tables.items["domain"] == "action", "uid"])[:3]
    with open_store(store) as opened:
        opened.write(tables, progress=False)
        opened.write_vectors("Item", action, np.ones((3, 4)), property="embedding")
    monkeypatch.setattr(kgrec.experiment, "fit", None)  # never reached
    with pytest.raises(InputError, match=r"and 0 item\(s\) have both") as error:
        train(store=store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    assert error.value.field == "--cold-items"


def test_text_mode_scores_new_items_by_the_text_mlp_alone(tmp_path, text_store):
    run = train(
        store=text_store,
        out=tmp_path / "r",
        text_input="add",
        cold_items="text",
        **NEW_ITEMS,
        **SMALL,
    )
    model, graph = run.model, run.graph
    new = run.experiment.split.new_items(graph.item_domain)
    users, items = embeddings(model, graph)
    record = json.loads((run.folder / "run.json").read_text())["cold_items"]
    assert record["served_target_items"] == int(new.sum()) > 0
    # LightGCN: a new item has no edge, so its embedding is alpha_0 times its layer-0 vector
    nodes = model.num_users + new.nonzero().flatten()
    with torch.no_grad():
        text_alone = model.text_input.mlp(model.text_features[nodes])
    assert torch.allclose(items[new], model.lightgcn.alpha[0] * text_alone, atol=1e-6)
    dropped = model.text_input.dropped
    served = dropped[model.num_users : model.num_users + model.num_items]
    assert served[new].all() and not dropped[: model.num_users].any()
    model.text_input.drop_ids(None)
    with_ids = embeddings(model, graph)
    assert torch.equal(with_ids[0], users)
    assert torch.equal(with_ids[1][~served], items[~served])
    assert not torch.allclose(with_ids[1][new], items[new])
    model.text_input.drop_ids(dropped)
    loaded = load_run(run.folder)
    assert torch.equal(loaded.model.text_input.dropped, dropped)
    assert torch.allclose(embeddings(loaded.model, loaded.graph)[1], items)


@pytest.mark.parametrize(
    "objective",
    [
        {"objective": "bpr"},
        {"objective": "softmax", "num_negatives": 64},
        {"objective": "softmax", "text_cl_weight": 1.0, "text_cl_neighbours": 3},
    ],
)
def test_new_items_are_never_trained(tmp_path, text_store, objective):
    run = train(store=text_store, out=tmp_path / "r", **NEW_ITEMS, **SMALL, **objective)
    initial, graph, _ = build_run(run.experiment, run.settings)  # the same seeded start
    new = run.experiment.split.new_items(graph.item_domain)
    trained = run.model.lightgcn.embedding.weight[run.model.num_users :]
    start = initial.lightgcn.embedding.weight[initial.num_users :]
    # held out of training entirely: no gradient ever reaches them, as a negative or as a
    # trained item's text neighbour
    assert new.any() and torch.equal(trained[new], start[new])
    assert not torch.allclose(trained[~new], start[~new])


def test_text_mode_needs_the_added_text_input(tmp_path, text_store):
    with pytest.raises(InputError, match="--text-input add"):
        train(store=text_store, out=tmp_path / "r", cold_items="text", **NEW_ITEMS, **SMALL)
    with pytest.raises(InputError, match="--text-input add"):
        train(
            store=text_store,
            out=tmp_path / "r",
            cold_items="text",
            text_input="only",
            **NEW_ITEMS,
            **SMALL,
        )
    assert not (tmp_path / "r").exists()


def test_dropped_ids_leave_the_text_output_alone():
    torch.manual_seed(0)  # the same numbers whatever tests ran before
    layer = TextInput(3, 2, hidden_channels=4, mode="add")
    x, text = torch.randn(5, 2), torch.randn(5, 3)
    mask = torch.tensor([True, True, False, True, True])
    full = layer(x, text, mask)
    layer.drop_ids(torch.tensor([False, True, True, False, False]))
    dropped = layer(x, text, mask)
    with torch.no_grad():
        alone = layer.mlp(text)
    assert torch.allclose(dropped[1], alone[1])  # text, no ID
    assert torch.equal(dropped[2], torch.zeros(2))  # neither
    assert torch.equal(dropped[[0, 3, 4]], full[[0, 3, 4]])
    # rows of a subgraph: n_id picks their entries
    sub = layer(x[[1, 3]], text[[1, 3]], mask[[1, 3]], n_id=torch.tensor([1, 3]))
    # the same to rounding: the MLP on 2 rows runs other kernels than on 5 (6e-8 apart, past
    # allclose's default near 0 for an output of about 0.001, as the CPU rounds)
    assert torch.allclose(sub, dropped[[1, 3]], atol=1e-6)
    with pytest.raises(ValueError, match="'only' mode"):
        TextInput(3, 2, mode="only").drop_ids(torch.ones(5, dtype=torch.bool))


def test_an_item_loaded_after_training_is_recommended_from_its_text(
    tmp_path, text_store, make_graph
):
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    plain = train(store=text_store, out=tmp_path / "plain", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    target = maps.domains[split.target_domain]
    # the late item gets the text of one of the run's new items: the same served embedding
    # (and its year and genres); another late item differs from it by its genres only (not by
    # a year: this catalogue knows none, so a late item's is not read)
    twin = maps.items[int(split.new_items(run.graph.item_domain).nonzero()[0])]
    with open_store(text_store) as store:
        row = store.snapshot().items.set_index("uid").loc[twin]
        keys, vectors = store.read_vectors("Item", property="embedding")
        late = make_graph(
            items=[
                {
                    "domain": target,
                    "item_id": item_id,
                    "title": item_id,
                    "year": None if pd.isna(row["year"]) else int(row["year"]),
                    "genres": genres,
                }
                for item_id, genres in (
                    ("late", list(row["genres"])),
                    ("later", ["Action", "Thriller"]),
                )
            ]
        )
        store.write(late, progress=False)
        text = vectors[[keys.index(twin)] * 2]
        store.write_vectors(
            "Item", [f"{target}:late", f"{target}:later"], text, property="embedding"
        )

    loaded = load_run(run.folder)
    table = loaded.recommend(k=1_000)
    scores = table.pivot(index="user_id", columns="item_uid", values="score")
    assert f"{target}:late" in scores.columns and scores[f"{target}:late"].notna().all()
    open_ = scores[twin].notna()  # (the users who already have the twin are not offered it)
    assert open_.sum() > 10
    pd.testing.assert_series_equal(
        scores.loc[open_, f"{target}:late"], scores.loc[open_, twin], check_names=False
    )
    assert not np.allclose(scores.loc[open_, f"{target}:later"], scores.loc[open_, twin])
    # one user's publish writes the late items' vectors too (before: the user's list named
    # them, and they had none)
    loaded.publish(k=5, users=[str(table["user_id"].iloc[0])])
    with open_store(text_store) as store:
        keys, _ = store.read_vectors("Item", property="gnn_embedding")
    assert set(keys) == {f"{target}:late", f"{target}:later"}
    published = loaded.publish(k=5)
    assert published["item_uid"].isin((*maps.items, f"{target}:late", f"{target}:later")).all()
    with open_store(text_store) as store:
        keys, _ = store.read_vectors("Item", property="gnn_embedding")
    assert f"{target}:late" in keys

    # a run without a content student recommends only the items it was trained with
    assert f"{target}:late" not in set(load_run(plain.folder).recommend(k=1_000)["item_uid"])

    # a late item someone has is not recommended to them: a user of the run, and a newcomer
    # (before the fix only the run's own interactions were masked, and both were offered it)
    user = str(table["user_id"].iloc[0])
    history = [maps.items[int(i)] for i in run.experiment.split.train[1, :3]]
    with open_store(text_store) as store:
        store.write(
            make_graph(
                interactions=[
                    (user, f"{target}:late", 5.0, 1.0),
                    ("newbie", f"{target}:late", 5.0, 1.0),
                ]
                + [("newbie", uid, 5.0, 1.0) for uid in history]
            ),
            progress=False,
        )
    loaded = load_run(run.folder)
    everyone = loaded.recommend(k=1_000)
    assert (everyone["item_uid"] == f"{target}:late").sum() == len(scores) - 1
    mine = everyone[everyone["user_id"] == user]
    assert f"{target}:late" not in set(mine["item_uid"]) and f"{target}:later" in set(
        mine["item_uid"]
    )
    for who in ([user], ["newbie"], [user, "newbie"]):
        offered = loaded.recommend(k=1_000, users=who)
        assert f"{target}:late" not in set(offered["item_uid"]), who
        assert f"{target}:later" in set(offered["item_uid"])


def late_items(make_graph, store: str, target: str, names, text, years) -> None:
    """Items ``names`` of domain ``target`` loaded into ``store`` (after training), with these
    text vectors and years."""
    with open_store(store) as opened:
        items = [
            {"domain": target, "item_id": name, "title": name, "year": year}
            for name, year in zip(names, years, strict=True)
        ]
        opened.write(make_graph(items=items), progress=False)
        uids = [f"{target}:{name}" for name in names]
        opened.write_vectors("Item", uids, text, property="embedding")


def test_late_items_longer_than_the_stored_items_are_not_published_beside_them(
    tmp_path, text_store, make_graph, capsys, monkeypatch
):
    """A publish for some users writes the vectors of items loaded after training beside the
    stored item vectors, all padded to one norm M so that the cosine index ranks as the dot
    product does. Before, the late items were padded to the largest norm of the ranking at
    hand: one longer than the stored items gave them another norm than the stored items kept,
    and the index's cosine order was no longer the model's (silently). Now they are padded to
    the stored items' norm, and one longer than it is refused before anything is written."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    run.publish(k=3)
    with open_store(text_store) as store:
        _, items = store.read_vectors("Item", property="gnn_embedding")
    norm = np.linalg.norm(items, axis=1).max()
    # late items longer than the stored ones: the student gives few on this tiny catalogue
    # (before session 39, a year, which it knows none of, gave them noise), so theirs are
    # lengthened here
    embed = StudentItems.embed_new_items
    monkeypatch.setattr(
        StudentItems, "embed_new_items", lambda self, *args: 10 * embed(self, *args)
    )
    names = [f"late{n}" for n in range(60)]
    text = np.random.default_rng(5).normal(size=(60, 6))
    late_items(make_graph, text_store, target, names, text, [1900 + 2 * n for n in range(60)])
    loaded = load_run(run.folder)
    with open_store(text_store) as store:
        _, embedded = loaded._items_loaded_after_training(store, loaded._late_items(store))
    assert embedded.norm(dim=1).max() > 1.1 * norm  # (the situation this test is about)
    with open_store(text_store) as store:
        before = store.recommendations(), store.read_vectors("Item", property="gnn_embedding")
    user = loaded.experiment.maps.users[0]
    with pytest.raises(InputError, match=r"longer than the item vectors .*without --user"):
        loaded.publish(k=3, users=[user])
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "--user", user]) == 2
    assert "Publish the whole run (without --user)" in capsys.readouterr().err
    with open_store(text_store) as store:  # nothing written
        pd.testing.assert_frame_equal(store.recommendations(), before[0])
        keys, vectors = store.read_vectors("Item", property="gnn_embedding")
    assert keys == before[1][0] and np.array_equal(vectors, before[1][1])

    # the whole run's publish pads them all to one norm; a later late item that fits (the
    # text and year of one already published) is padded to it, and the index ranks as the
    # model does. The norm is the store's record of the run (since session 29): every stored
    # item vector is not read for it (before, they were: slow on a large catalogue)
    loaded.publish(k=3)
    with open_store(text_store) as store:
        whole = dict(zip(*store.read_vectors("Item", property="gnn_embedding"), strict=True))
        recorded = store.vector_run("gnn_embedding")["item_norm"]
    assert np.allclose(np.linalg.norm(list(whole.values()), axis=1), recorded, rtol=1e-5)
    late_items(make_graph, text_store, target, ["twin"], text[:1], [1900])
    loaded = load_run(run.folder)
    with monkeypatch.context() as patch:
        read = LocalStore.read_vectors

        def read_no_published_items(self, kind, *, property):
            assert (kind, property) != ("Item", "gnn_embedding"), "every item vector was read"
            return read(self, kind, property=property)

        patch.setattr(LocalStore, "read_vectors", read_no_published_items)
        loaded.publish(k=3, users=[user])
    with open_store(text_store) as store:
        keys, items = store.read_vectors("Item", property="gnn_embedding")
    assert f"{target}:twin" in keys
    norms = np.linalg.norm(items.astype("float64"), axis=1)
    assert np.allclose(norms, norms.max(), rtol=1e-5)
    # padded to the recorded norm, the late items' vectors are those the whole run's publish
    # gave them, and the twin's is its twin's
    mine = dict(zip(keys, items, strict=True))
    for name in names:
        assert np.allclose(mine[f"{target}:{name}"], whole[f"{target}:{name}"], atol=1e-6)
    assert np.allclose(mine[f"{target}:twin"], whole[f"{target}:late0"], atol=1e-6)


def test_a_store_whose_text_vectors_have_another_size_is_refused(
    tmp_path, text_store, make_graph, capsys
):
    """Before, a store (or --store) whose item vectors were of another size than the run's
    (another model's, embedded with no record of it) stopped the ranking with a ValueError
    traceback from the content student."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    with open_store(text_store) as store:
        store.write(make_graph(items=[{"domain": target, "item_id": "late", "title": "Late"}]))
        keys = sorted(store.snapshot().items["uid"])
        store.drop_vectors("Item", [], property="embedding")
        store.write_vectors("Item", keys, np.ones((len(keys), 8)), property="embedding")
    with pytest.raises(InputError, match=r"6-dimensional .* 8 dimensions"):
        load_run(run.folder).recommend(k=5)
    capsys.readouterr()
    assert main(["recommend", "--run", str(run.folder), "--show", "u1"]) == 2
    assert "8 dimensions" in capsys.readouterr().err


def test_a_newcomer_is_folded_in_from_the_items_the_run_learnt_only(
    tmp_path, text_store, make_graph, monkeypatch
):
    """Before, a newcomer who rated a split's new items was folded in from their embeddings,
    which training never touched (random noise): one who rated only new items got a list of
    noise, with no warning. Now those items are left out; with nothing left, an error."""
    run = train(store=text_store, out=tmp_path / "r", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    new = [maps.items[int(i)] for i in split.new_items(run.graph.item_domain).nonzero()[:3]]
    warm = maps.items[int(split.train[1, 0])]
    rows = [("nNew", item, 5.0, 1.0) for item in new]
    rows += [("nBoth", item, 5.0, 1.0) for item in [*new, warm]] + [("nWarm", warm, 5.0, 1.0)]
    with open_store(text_store) as store:
        store.write(make_graph(interactions=rows), progress=False)
    loaded = load_run(run.folder)
    with pytest.raises(InputError, match="'nNew' is neither in the run's graph nor has"):
        loaded.recommend(k=5, users=["nNew"])
    calls = record_fold_ins(monkeypatch)
    table = loaded.recommend(k=10, users=["nBoth", "nWarm"])
    assert set(table["user_id"]) == {"nBoth", "nWarm"}
    (call,) = calls
    # both folded in from the warm item alone; nBoth's new items are no negatives either
    index = maps.item_index([warm, *new])
    assert [h.tolist() for h in call["histories"]] == [[index[0]], [index[0]]]
    assert sorted(call["exclude"][0].tolist()) == sorted(index)


def test_a_run_user_with_only_new_items_is_served_the_most_popular_items(
    tmp_path, text_store, make_graph, caplog, capsys, monkeypatch
):
    """A run's user with no training interaction whose interactions are all with a split's new
    items (a cold user of a new-item split whose items are all new), or who has none, has
    nothing a run without a content student can fold them in from. `kgrec recommend --user`
    and ``run.recommend`` ranked them from the embedding training never touched: a list of
    noise, with a warning (session 29; before, without). Now they are served the run's most
    popular target-domain training items, never one they have, and the warning says so and
    why, from their interactions as read for their fold-in (before: read again)."""
    with open_store(text_store) as store:  # the run's users with nothing in training
        store.write(make_graph(users=[{"user_id": "ghost"}, {"user_id": "void"}]), progress=False)
    run = train(store=text_store, out=tmp_path / "r", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    assert split.cold_users(len(maps.users))[maps.user_index(["ghost"])[0]]
    new = [maps.items[int(i)] for i in split.new_items(run.graph.item_domain).nonzero()[:3]]
    with open_store(text_store) as store:
        store.write(make_graph(interactions=[("ghost", i, 5.0, 1.0) for i in new]), progress=False)
    loaded = load_run(run.folder)
    reads, read = [], LocalStore.user_interactions

    def recorded(self, user_ids):
        reads.append(sorted(user_ids))
        return read(self, user_ids)

    monkeypatch.setattr(LocalStore, "user_interactions", recorded)
    target = (run.graph.item_domain == split.target_domain).nonzero().flatten()
    counts = torch.bincount(split.train[1], minlength=len(maps.items))
    # the most popular first, ties in item order
    popular = [maps.items[int(i)] for i in sorted(target.tolist(), key=lambda i: -counts[i])]
    trained = loaded.recommend(k=len(target), users=["u1"])
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        table = loaded.recommend(k=len(target), users=["ghost", "void", "u1"])
    lists = {user: rows for user, rows in table.groupby("user_id")}
    assert lists["void"]["item_uid"].tolist() == popular
    assert lists["ghost"]["item_uid"].tolist() == [i for i in popular if i not in new]
    ghost = lists["ghost"]
    scores = [float(counts[i]) for i in maps.item_index(ghost["item_uid"].tolist())]
    assert ghost["score"].tolist() == scores  # their number of training interactions
    pd.testing.assert_frame_equal(lists["u1"].reset_index(drop=True), trained)  # the model's
    (warning,) = [r.getMessage() for r in caplog.records if "popular" in r.getMessage()]
    assert "2 user(s) of the run ('ghost', 'void') have no training interaction" in warning
    assert "1 with interactions only with items the run never learnt" in warning
    assert "1 with no interaction there" in warning
    assert "they are served the most popular items" in warning
    assert "retrain the run" in warning
    assert reads[-1:] == [["ghost", "u1", "void"]]  # once: for fold-in and what they have
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        loaded.recommend(k=3, users=["u1"])  # a trained user: no warning
    assert not [r for r in caplog.records if "popular" in r.getMessage()]
    caplog.clear()
    assert main(["recommend", "--run", str(run.folder), "-k", "3", "--show", "ghost"]) == 0
    assert any("('ghost') have no training" in r.getMessage() for r in caplog.records)
    shown = capsys.readouterr().out
    assert all(item in shown for item in lists["ghost"]["item_uid"][:3])


def record_fold_ins(monkeypatch) -> list[dict]:
    """The arguments of every :func:`kgrec.foldin.fold_in_users` call of a model's fold-in
    from now on (the calls themselves go through): histories, candidates, the items'
    domains and exclude (an empty tensor per newcomer when none is given)."""
    calls = []

    def spy(item_emb, histories, **options):
        none = [torch.zeros(0, dtype=torch.long)] * len(histories)
        calls.append(
            {
                "histories": list(histories),
                "candidates": options.get("candidates"),
                "domains": options.get("domains"),
                "exclude": options.get("exclude") or none,
            }
        )
        return fold_in_users(item_emb, histories, **options)

    monkeypatch.setattr(kgrec.models.base, "fold_in_users", spy)
    return calls


def test_a_newcomers_own_items_are_never_fold_in_negatives(
    tmp_path, text_store, make_graph, monkeypatch
):
    """A newcomer who rated an item loaded after training (ranked by the content student): it
    is never drawn as a negative (before, it was, although the newcomer has it), and since
    session 39 it is a positive, from the student's embedding. (A split's new item that the
    newcomer rated and the run did not learn:
    test_a_newcomer_is_folded_in_from_the_items_the_run_learnt_only.)"""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    target = maps.domains[split.target_domain]
    warm = [maps.items[int(i)] for i in split.train[1, :3]]
    late = f"{target}:late"
    with open_store(text_store) as store:
        _, vectors = store.read_vectors("Item", property="embedding")
        store.write(
            make_graph(items=[{"domain": target, "item_id": "late", "title": "late"}]),
            progress=False,
        )
        store.write_vectors("Item", [late], vectors[:1], property="embedding")
        rows = [("newbie", uid, 5.0, 1.0) for uid in [*warm, late]]
        store.write(make_graph(interactions=rows), progress=False)
    calls = record_fold_ins(monkeypatch)
    table = load_run(run.folder).recommend(k=5, users=["newbie"])
    assert not table["item_uid"].isin([*warm, late]).any()
    (call,) = calls
    late_row = len(maps.items)  # the items ranked: the run's, then the late one
    assert call["domains"][late_row] == split.target_domain  # a negative of the target items
    warm_rows = maps.item_index(warm)
    assert sorted(call["histories"][0].tolist()) == sorted([*warm_rows, late_row])
    assert sorted(call["exclude"][0].tolist()) == sorted([*warm_rows, late_row])


def test_a_newcomer_who_rated_only_items_loaded_after_training_is_folded_in_from_them(
    tmp_path, text_store, make_graph, monkeypatch
):
    """A run with a content student ranks items loaded after training by the student's
    embedding of their text; a newcomer who rated only such items is folded in from those
    embeddings, as from the run's items. Before, they were refused ("is neither in the run's
    graph nor has interactions with items it learnt"). The late item has the text of one of
    the run's new items (the twin), so its embedding is the twin's: the newcomer's list has the
    twin near its top, first of the new items."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    target = maps.domains[split.target_domain]
    twin = maps.items[int(split.new_items(run.graph.item_domain).nonzero()[0])]
    late = f"{target}:late"
    with open_store(text_store) as store:
        keys, vectors = store.read_vectors("Item", property="embedding")
        row = store.snapshot().items.set_index("uid").loc[twin]
        item = {"domain": target, "item_id": "late", "title": "late", "genres": list(row["genres"])}
        store.write(make_graph(items=[item]), progress=False)
        store.write_vectors("Item", [late], vectors[[keys.index(twin)]], property="embedding")
        store.write(make_graph(interactions=[("fan", late, 5.0, 1.0)]), progress=False)
    calls = record_fold_ins(monkeypatch)
    loaded = load_run(run.folder)
    table = loaded.recommend(k=10, users=["fan"])
    (call,) = calls
    late_row = len(maps.items)  # the items ranked: the run's, then the late one
    assert [h.tolist() for h in call["histories"]] == [[late_row]]
    listed = table["item_uid"].tolist()
    assert len(listed) == 10 and late not in listed
    # items like theirs first: the twin in their top 10 of the target items, and scored above
    # every other new item the student embeds (the twin's text is not theirs)
    ranked = loaded.recommend(k=1_000, users=["fan"])
    assert len(ranked) > 25 and twin in listed
    new = {maps.items[int(i)] for i in split.new_items(run.graph.item_domain).nonzero()}
    order = [uid for uid in ranked["item_uid"] if uid in new]
    assert order[0] == twin, order


def test_a_student_too_large_for_this_machine_is_refused_naming_the_run(
    tmp_path, text_store, monkeypatch, capsys
):
    """Before, a saved run's content student was rebuilt outside the memory guard the run's
    model is rebuilt in: running out of memory there read as a student "that cannot be
    read", damaged, instead of a run that needs a machine with more memory."""
    import kgrec.cold_items

    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 68719476736 bytes."
        )

    monkeypatch.setattr(kgrec.cold_items, "_student", out_of_memory)
    with pytest.raises(InputError, match="does not fit in this machine's memory") as refused:
        load_run(run.folder)
    assert refused.value.file == str(run.folder / "run.json")
    assert "cannot be read" not in str(refused.value)
    # the student's own sizes (5 members: 6 text floats and 5 attributes in, 256 hidden, the
    # model's 8 out), not the model's --dim/--layers, which do not size it
    assert "content student (5 member(s), each an MLP of 11 inputs x 256 hidden x 8 outputs" in (
        str(refused.value)
    )
    assert "--layers" not in str(refused.value)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run.folder)]) == 2
    assert "load it on a machine with more memory" in capsys.readouterr().err


def test_late_items_without_a_text_vector_are_named_in_a_warning(
    tmp_path, text_store, make_graph, caplog
):
    """Items loaded after training and never embedded have no text for the student: they
    are not ranked. Before, without a word (a user who forgot `kgrec embed` saw them missing)."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    late_items(make_graph, text_store, target, ["late"], np.ones((1, 6)), [1990])
    with open_store(text_store) as store:  # two more, without text vectors
        items = [{"domain": target, "item_id": n, "title": n} for n in ("bare1", "bare2")]
        store.write(make_graph(items=items), progress=False)
    loaded = load_run(run.folder)
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        offered = loaded.recommend(k=1_000)
    assert f"{target}:late" in set(offered["item_uid"])
    assert not {f"{target}:bare1", f"{target}:bare2"} & set(offered["item_uid"])
    assert f"2 items of domain {target!r} loaded into" in caplog.text
    assert "kgrec embed --store" in caplog.text
    caplog.clear()
    with open_store(text_store) as store:  # embedded: ranked, and no warning
        store.write_vectors(
            "Item", [f"{target}:bare1", f"{target}:bare2"], np.ones((2, 6)), property="embedding"
        )
    with caplog.at_level("WARNING", logger="kgrec.experiment"):
        offered = loaded.recommend(k=1_000)
    assert {f"{target}:bare1", f"{target}:bare2"} <= set(offered["item_uid"])
    assert "loaded into" not in caplog.text


def test_show_reads_the_titles_of_items_loaded_after_training_from_the_store(
    tmp_path, text_store, make_graph, monkeypatch, capsys
):
    """The run's items' titles are its experiment's; those of items loaded after training,
    which its student ranks, are read from the store, in one read of those items alone."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    maps = run.experiment.maps
    target = maps.domains[run.experiment.split.target_domain]
    late_items(make_graph, text_store, target, ["late"], np.ones((1, 6)), [1990])  # titled
    loaded = load_run(run.folder)
    reads, read = [], LocalStore.items

    def recorded(self, uids):
        reads.append(list(uids))
        return read(self, uids)

    monkeypatch.setattr(LocalStore, "items", recorded)
    late = f"{target}:late"
    # (the tiny catalogue has no titles: its items' are empty)
    assert loaded.item_titles([late, maps.items[0], late]) == ["late", "", "late"]
    assert reads == [[late]]
    assert main(["recommend", "--run", str(run.folder), "-k", "1000", "--show", "u1"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if f" {late} " in line]
    assert line.split(late, 1)[1].split()[:-1] == ["late"]


def test_a_newcomer_who_rated_a_new_item_the_student_serves_is_folded_in(
    tmp_path, text_store, make_graph
):
    """A split's new items are never training negatives (domain -1 in the split's negative
    domains), but a content student serves them, so a newcomer's rating of one is a positive.
    Before, fold-in refused that positive with a bare ValueError ("a history item is of domain
    -1"): its negatives are now drawn from the target domain, as for items loaded after
    training."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    maps, split = run.experiment.maps, run.experiment.split
    new = maps.items[int(split.new_items(run.graph.item_domain).nonzero()[0])]
    with open_store(text_store) as store:
        store.write(make_graph(interactions=[("fan", new, 5.0, 1.0)]), progress=False)
    table = load_run(run.folder).recommend(k=10, users=["fan"])
    assert len(table) == 10 and new not in set(table["item_uid"])


def test_a_load_between_a_rankings_reads_of_its_store_is_read_as_one(
    tmp_path, text_store, make_graph, monkeypatch
):
    """A ranking reads its store in several reads: the text vectors of items loaded after
    training, then the users' interactions. Before, a load that committed between them (an
    item, its text vector, a newcomer's rating of it) gave the newcomer's rating of an item
    the vectors read had not seen, and the newcomer was refused ("of their 1 interaction(s)
    there, 1 are with items loaded after training ... retrain the run"), which neither the
    store before the load nor after it said. Now the reads are one (read_as_one): read again
    after the load, the newcomer is folded in from the new item the student serves."""
    run = train(store=text_store, out=tmp_path / "r", cold_items="student", **NEW_ITEMS, **SMALL)
    target = run.experiment.maps.domains[run.experiment.split.target_domain]
    late = f"{target}:late"
    read, loads = LocalStore.user_interactions, []

    def load_before_it(self, user_ids):
        if not loads:  # another process loads an item, embeds it, then a newcomer's rating
            late_items(make_graph, text_store, target, ["late"], np.ones((1, 6)), [1990])
            with open_store(text_store) as store:
                rating = make_graph(interactions=[("fan", late, 5.0, None)])
                loads.append(store.write(rating, progress=False))
        return read(self, user_ids)

    monkeypatch.setattr(LocalStore, "user_interactions", load_before_it)
    table = load_run(run.folder).recommend(k=5, users=["fan"])
    assert len(loads) == 1
    assert len(table) == 5 and set(table["user_id"]) == {"fan"}
    assert late not in set(table["item_uid"])  # what the newcomer has
