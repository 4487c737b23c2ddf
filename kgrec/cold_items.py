r"""New items served by a content student distilled from the trained model (issue 13, point 3).

An item with no training interaction has only the embedding it was initialised with: a
trained graph model cannot rank it (README, ``ml100k-new-items``: LightGCN's new-item NDCG is
0). After ALDI (Huang et al., SIGIR 2023: distil warm items' collaborative embeddings, the
teacher, into a content encoder, the student, that then scores new items), once the model
has trained:

- the *teacher* is the trained model's final item embeddings :math:`\mathbf{v}_i`;
- the *student* :class:`ContentStudent` maps an item's content to the same space: its text
  vector and its release year and genres (:class:`ItemAttributes`) through a two-layer MLP,
  and with the knowledge graph (``item_entity``,
  ``cold_items="student-kg"``) the mean of learned embeddings of its knowledge-graph entities
  (an inductive KG neighbourhood: an entity never linked to a warm item stays at zero and
  says nothing, as does a genre or year bin no warm item has; on ml100k the KG added nothing
  measurable to the text);
- :func:`distil` fits the student to the teacher's embeddings of the items with training
  interactions (*warm*), squared error, early-stopped on a seeded tenth of them held out;
  :func:`serve_new_items` fits :data:`MEMBERS` students apart and serves their mean
  (:class:`StudentEnsemble`);
- :class:`StudentItems` serves the trained model with the items without training
  interactions (and with text) taking ``scale`` times the student's embedding; every other
  item, and every user, keeps the teacher's, so warm items' scores do not change.

With a model that adds a text MLP's output to its ID embeddings (``--text-input add``), the
inductive path is the model's own: :func:`drop_untrained_ids` (``cold_items="text"``) scores
the items without training interactions from the MLP's output alone. On a new-item protocol
their ID embedding learnt nothing from interactions (training draws no negatives among
them: :meth:`kgrec.data.split.Split.unseen_items`), so for LightGCN, where they have no edge,
it is noise and nothing else changes. A knowledge-graph model's messages reach them through
their entities, so there their ID embedding did move a little in training, and leaving it out
also moves the warm items and users it reaches (slightly: up to 0.004 and 0.0002 after one
epoch of R-GCN on ml100k-new-items, session 22's review).

Items without training interactions and without text are served by neither path: they keep
the model's own embedding (for LightGCN their random start) and stay among the candidates.

The scale: a squared-error student predicts the conditional mean of an embedding, whose norm
shrinks with its uncertainty, so a new item scores low beside warm items; a new item ranked
among new items only does not depend on it. :func:`choose_scale` picks it from
:data:`SCALES` by the validation NDCG@20 over the whole catalogue (the split's validation
interactions include new items' on the new-item protocols), the same figure early stopping
uses; the test split is not read.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgrec.data.split import Split
from kgrec.evaluate import evaluate_embeddings
from kgrec.models.base import GraphRecommender
from kgrec.ranking import embeddings
from kgrec.settings import COLD_ITEMS as COLD_ITEMS  # re-exported: defined here until session 45
from kgrec.settings import SCALES

if TYPE_CHECKING:  # imported where a graph is built: `kgrec COMMAND --help` needs no PyG
    from torch_geometric.data import Data, HeteroData

HIDDEN = 256  # the student MLP's hidden layer
DROPOUT = 0.1
LR = 1e-3
ENTITY_WEIGHT_DECAY = 1e-3  # on the entity embeddings: thousands of rows, few warm items each
HELD_OUT = 0.1  # share of the warm items the student is early-stopped on
PATIENCE = 50  # epochs (full batch) without a lower held-out error before stopping
MAX_EPOCHS = 2000
SCORE_METRIC = "ndcg@20"
YEAR_BINS = 12  # release years become this many quantile bins of the catalogue's years
MAX_GENRES = 256  # the most frequent genres the student reads (a catalogue may list thousands)
ATTRIBUTE_WEIGHT = 4.0  # norm of the attribute part of the input beside the unit text vector
MEMBERS = 5  # content students the served model averages (StudentEnsemble)
MEMBER_SEED_STEP = 1000  # member k of a run with seed s is fitted with seed s + 1000 k


class ItemAttributes:
    """An item's release year and genres as a fixed vector: the genres multi-hot (the
    catalogue's :data:`MAX_GENRES` most frequent), the year one-hot among :data:`YEAR_BINS`
    quantile bins of the catalogue's known years, the whole scaled to norm ``weight`` (zeros
    for an item with neither). MiniLM reads "(1995)" in a title but hardly places the year:
    with the year and genres beside the text, the student ranked new items better on the
    validation of all 19 new-item runs checked, by 0.1-30 % (README, "New items").

    Built from a run's catalogue (:meth:`from_data`), so an item loaded after training is
    encoded with the same bins and genres (:meth:`encode`).

    Args:
        genres: the genre names, in column order.
        year_cuts: the bins' inner edges, ascending (``YEAR_BINS - 1`` of them at most).
        weight: the norm of an encoded vector.
        years: False where the catalogue knows no year: its year column (kept, so the width
            is the same) stays zero for every item, one loaded later with a year included
            (the student never learnt what that column means).
    """

    def __init__(
        self,
        genres: Sequence[str],
        year_cuts: Tensor,
        weight: float = ATTRIBUTE_WEIGHT,
        *,
        years: bool = True,
    ) -> None:
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight must be a positive number, got {weight}")
        self.genres = tuple(genres)
        self.year_cuts = year_cuts.float()
        self.weight = float(weight)
        self.years = bool(years)
        self._column = {name: n for n, name in enumerate(self.genres)}

    @classmethod
    def from_data(cls, data: HeteroData, genre_names: Sequence[str]) -> ItemAttributes | None:
        """The encoder of an export's catalogue (``data["item"]``'s ``year`` and ``genre``,
        :func:`kgrec.data.export.to_hetero_data`; ``genre_names`` its
        :attr:`~kgrec.data.export.IdMaps.genres`), or None where the items have neither (or
        the export predates them)."""
        item = data["item"]
        year = item.year if "year" in item else torch.zeros(0)
        links = item.genre if "genre" in item else torch.zeros(2, 0, dtype=torch.long)
        known = year[~year.isnan()]
        if not known.numel() and not links.size(1):
            return None
        counts = torch.bincount(links[1], minlength=len(genre_names))
        order = sorted(range(len(genre_names)), key=lambda n: (-int(counts[n]), genre_names[n]))
        kept = sorted(genre_names[n] for n in order[:MAX_GENRES] if counts[n] > 0)
        cuts = torch.zeros(0)
        if known.numel():
            quantiles = torch.linspace(0, 1, YEAR_BINS + 1)[1:-1]
            cuts = torch.unique(torch.quantile(known.double(), quantiles.double())).float()
        return cls(kept, cuts, years=bool(known.numel()))

    def matrix(self, data: HeteroData, genre_names: Sequence[str]) -> Tensor:
        """``[num_items, width]`` the export's items encoded."""
        item = data["item"]
        links = item.genre
        genres = [[] for _ in range(item.num_nodes)]
        for row, column in links.t().tolist():
            genres[row].append(genre_names[column])
        return self.encode(item.year, genres)

    @property
    def width(self) -> int:
        return len(self.genres) + self.year_cuts.numel() + 1

    def encode(self, years: Tensor, genres: Sequence[Sequence[str]]) -> Tensor:
        """``[n, width]``: ``years`` ``[n]`` (NaN where unknown) and each item's genres
        (names outside the encoder's are left out)."""
        if years.dim() != 1 or years.numel() != len(genres):
            raise ValueError(
                f"years must be [n] beside n genre lists, got {list(years.shape)} and {len(genres)}"
            )
        out = torch.zeros(years.numel(), self.width)
        for row, names in enumerate(genres):
            for name in names:
                if name in self._column:
                    out[row, self._column[name]] = 1.0
        years = years.float()
        known = ~years.isnan() & self.years
        bins = torch.bucketize(years[known], self.year_cuts, right=True)
        out[known.nonzero().flatten(), len(self.genres) + bins] = 1.0
        return self.weight * F.normalize(out, dim=1)


class ContentStudent(nn.Module):
    r"""An item's embedding from its content alone:

    .. math::
        \hat{\mathbf{v}}_i = \mathbf{W}_2 \, \mathrm{Dropout}(\mathrm{LeakyReLU}(\mathbf{W}_1
        \bar{\mathbf{t}}_i + \mathbf{b}_1)) + \mathbf{b}_2
        \; \Big[ + \frac{1}{|\mathcal{E}_i|} \sum_{e \in \mathcal{E}_i} \mathbf{w}_e \Big]

    with :math:`\bar{\mathbf{t}}_i` the item's L2-normalised text vector (zeros without text),
    followed by its ``attributes`` row where given (:class:`ItemAttributes`), and, with
    ``item_entity``, :math:`\mathcal{E}_i` the item's knowledge-graph entities and
    :math:`\mathbf{w}_e` a learned embedding per entity, starting at zero.

    Args:
        text: ``[I, d_text]`` the items' text vectors (a fixed input, a non-persistent buffer:
            pass the same text when rebuilding a student to load its state).
        attributes: optional ``[I, d_attr]`` fixed item attributes read beside the text
            (:meth:`ItemAttributes.matrix`; a non-persistent buffer, as ``text``).
        out_channels: size of the embeddings to reproduce.
        hidden_channels: size of the MLP's hidden layer.
        dropout: dropout after the hidden layer (training only).
        item_entity: optional ``[2, X]`` (item, entity) links of the knowledge graph
            (duplicates count once).
        num_entities: number of entities (``item_entity``'s second row lies below it).

    Shapes: ``forward(items [n])`` returns ``[n, out_channels]``; ``forward()`` every item's.
    """

    def __init__(
        self,
        text: Tensor,
        out_channels: int,
        *,
        attributes: Tensor | None = None,
        hidden_channels: int = HIDDEN,
        dropout: float = DROPOUT,
        item_entity: Tensor | None = None,
        num_entities: int = 0,
    ) -> None:
        super().__init__()
        if text.dim() != 2 or text.size(0) == 0:
            raise ValueError(f"text must be [num_items, d_text], got {list(text.shape)}")
        if out_channels <= 0 or hidden_channels <= 0:
            raise ValueError(
                f"out_channels and hidden_channels must be positive, got {out_channels} and "
                f"{hidden_channels}"
            )
        if attributes is not None and (attributes.dim() != 2 or attributes.size(0) != text.size(0)):
            raise ValueError(
                f"attributes must be [{text.size(0)}, d_attr] like text's rows, got "
                f"{list(attributes.shape)}"
            )
        self.num_items = text.size(0)
        self.out_channels = out_channels
        self.text_channels = text.size(1)
        inputs = F.normalize(text.float(), dim=1)
        if attributes is not None:
            inputs = torch.cat([inputs, attributes.float()], dim=1)
        self.register_buffer("inputs", inputs, persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(inputs.size(1), hidden_channels),
            nn.LeakyReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_channels, out_channels),
        )
        self.entities: nn.Embedding | None = None
        self.register_buffer("entity_mean", None, persistent=False)
        if item_entity is not None:
            self.entities = nn.Embedding(num_entities, out_channels)
            self.register_buffer(
                "entity_mean",
                _mean_matrix(item_entity, self.num_items, num_entities),
                persistent=False,
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        if self.entities is not None:
            nn.init.zeros_(self.entities.weight)

    def forward(self, items: Tensor | None = None) -> Tensor:
        out = self.mlp(self.inputs if items is None else self.inputs[items])
        if self.entities is not None:
            kg = torch.sparse.mm(self.entity_mean, self.entities.weight)
            out = out + (kg if items is None else kg[items])
        return out

    @property
    def reads_attributes(self) -> bool:
        """Whether the student reads item attributes beside the text."""
        return self.inputs.size(1) > self.text_channels

    def embed_text(self, text: Tensor, attributes: Tensor | None = None) -> Tensor:
        """Embeddings of items outside the student's table (loaded after training) from their
        ``[n, d_text]`` text vectors and, for a student that reads attributes, their
        ``[n, d_attr]`` attributes (None: none known, zeros). Without their knowledge-graph
        links, the entity part is left out (as for an item whose entities no warm item
        shares)."""
        weight = self.mlp[0].weight
        if text.dim() != 2 or text.size(1) != self.text_channels:
            raise ValueError(
                f"text must be [n, {self.text_channels}] like the student's, got {list(text.shape)}"
            )
        width = weight.size(1) - self.text_channels
        if attributes is None:
            attributes = torch.zeros(text.size(0), width)
        if attributes.shape != (text.size(0), width):
            raise ValueError(
                f"attributes must be [{text.size(0)}, {width}] for this student, got "
                f"{list(attributes.shape)}"
            )
        inputs = torch.cat([F.normalize(text.to(weight), dim=1), attributes.to(weight)], dim=1)
        return self.mlp(inputs)

    def __repr__(self) -> str:
        kg = "" if self.entities is None else f", entities={self.entities.num_embeddings}"
        attributes = self.inputs.size(1) - self.text_channels
        extra = f", attributes={attributes}" if attributes else ""
        return (
            f"{self.__class__.__name__}(items={self.num_items}, text={self.text_channels}"
            f"{extra}, out={self.out_channels}{kg})"
        )


def _mean_matrix(item_entity: Tensor, num_items: int, num_entities: int) -> Tensor:
    """``[num_items, num_entities]`` sparse: row ``i`` averages item ``i``'s distinct entities."""
    if item_entity.dim() != 2 or item_entity.size(0) != 2:
        raise ValueError(f"item_entity must be [2, X], got {list(item_entity.shape)}")
    if item_entity.numel() and (
        int(item_entity[0].max()) >= num_items or int(item_entity[1].max()) >= num_entities
    ):
        raise ValueError("item_entity names an item or entity beyond num_items / num_entities")
    links = torch.unique(item_entity, dim=1)
    count = torch.bincount(links[0], minlength=num_items).clamp(min=1).float()
    return torch.sparse_coo_tensor(
        links,
        count[links[0]].reciprocal(),
        (num_items, num_entities),
        check_invariants=False,  # in range: checked above
    ).coalesce()


def item_entities(data: HeteroData) -> Tensor:
    """``[2, X]`` (item, entity) of every knowledge edge between an item and an entity, in
    either direction, of an export (:func:`kgrec.data.export.to_hetero_data`)."""
    found = [torch.zeros(2, 0, dtype=torch.long)]
    for edge_type in data.edge_types:
        store = data[edge_type]
        if "relation" not in store:
            continue
        head, _, tail = edge_type
        if (head, tail) == ("item", "entity"):
            found.append(store.edge_index)
        elif (head, tail) == ("entity", "item"):
            found.append(store.edge_index.flip(0))
    return torch.unique(torch.cat(found, dim=1), dim=1)


def distil(
    student: ContentStudent,
    targets: Tensor,
    items: Tensor,
    *,
    seed: int = 0,
    held_out: float = HELD_OUT,
    lr: float = LR,
    patience: int = PATIENCE,
    max_epochs: int = MAX_EPOCHS,
) -> dict[str, float | int]:
    """Fit ``student`` to ``targets[items]`` (the teacher's embeddings ``[I, dim]`` of the warm
    ``items``): full-batch Adam on the squared error (summed over dimensions, averaged over
    items), early-stopped on a seeded ``held_out`` share of ``items``; the student ends in
    its best state, in eval mode. The first layer's weights of an input column that none of
    the fitted items has (a genre only new items have) are zero: such a column says nothing.
    Returns the record: items fitted and held out, epochs run, best epoch, and the held-out
    error and mean cosine before and after."""
    if items.numel() < 2:
        raise ValueError(
            f"the student needs at least 2 items with training interactions, got {items.numel()}"
        )
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must lie in (0, 1), got {held_out}")
    targets = targets.detach()
    generator = torch.Generator().manual_seed(seed)
    order = items.cpu()[torch.randperm(items.numel(), generator=generator)].to(targets.device)
    size = min(max(1, round(held_out * items.numel())), items.numel() - 1)
    valid, train = order[:size], order[size:]
    # An input column (a genre, a year bin) none of the fitted items has gets no gradient:
    # its random initial weights would push the items that have it (held out, new) at random.
    # At zero it says nothing, as an entity never linked to a warm item.
    unused = ~student.inputs[train.to(student.inputs.device)].ne(0).any(0)
    with torch.no_grad():
        student.mlp[0].weight[:, unused] = 0.0
    groups = [{"params": student.mlp.parameters()}]
    if student.entities is not None:
        groups.append(
            {"params": student.entities.parameters(), "weight_decay": ENTITY_WEIGHT_DECAY}
        )
    optimizer = torch.optim.Adam(groups, lr=lr)

    def error(rows: Tensor) -> Tensor:
        return (student(rows) - targets[rows]).pow(2).sum(1).mean()

    @torch.no_grad()
    def held_out_figures() -> tuple[float, float]:
        student.eval()
        predicted = student(valid)
        mse = float((predicted - targets[valid]).pow(2).sum(1).mean())
        return mse, float(F.cosine_similarity(predicted, targets[valid], dim=1).mean())

    first_mse, first_cosine = held_out_figures()
    best, best_epoch, best_state = first_mse, 0, copy.deepcopy(student.state_dict())
    epoch = 0
    torch.manual_seed(seed)  # dropout masks
    for epoch in range(1, max_epochs + 1):
        student.train()
        optimizer.zero_grad()
        error(train).backward()
        optimizer.step()
        mse, _ = held_out_figures()
        if mse < best:
            best, best_epoch, best_state = mse, epoch, copy.deepcopy(student.state_dict())
        elif epoch - best_epoch >= patience:
            break
    student.load_state_dict(best_state)
    mse, cosine = held_out_figures()
    return {
        "items_fitted": int(train.numel()),
        "items_held_out": int(valid.numel()),
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "held_out_mse_before": round(first_mse, 6),
        "held_out_mse": round(mse, 6),
        "held_out_cosine_before": round(first_cosine, 4),
        "held_out_cosine": round(cosine, 4),
    }


class StudentEnsemble(nn.Module):
    """The mean of content students fitted apart (:func:`serve_new_items` fits each with
    :func:`distil` on its own seed: its own initialisation, held-out tenth and dropout
    masks). One student's fit varies with its seed; the mean of :data:`MEMBERS` ranked new
    items better than one student on the validation of 10 of the 14 runs checked, by 0.003
    NDCG@20 on average, and depends less on the seed (README, "New items").

    Args:
        members: the fitted :class:`ContentStudent` s, over the same items, inputs and
            embedding size.
    """

    def __init__(self, members: Sequence[ContentStudent]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a student ensemble needs at least one member")
        first = members[0]
        for member in members[1:]:
            if (member.num_items, member.out_channels, member.inputs.shape) != (
                first.num_items,
                first.out_channels,
                first.inputs.shape,
            ):
                raise ValueError("the members must share their items, inputs and embedding size")
        self.members = nn.ModuleList(members)
        self.num_items = first.num_items
        self.out_channels = first.out_channels

    @property
    def reads_attributes(self) -> bool:
        return self.members[0].reads_attributes

    def forward(self, items: Tensor | None = None) -> Tensor:
        return torch.stack([member(items) for member in self.members]).mean(0)

    def embed_text(self, text: Tensor, attributes: Tensor | None = None) -> Tensor:
        """The members' mean :meth:`ContentStudent.embed_text`."""
        return torch.stack([m.embed_text(text, attributes) for m in self.members]).mean(0)


class StudentItems(GraphRecommender):
    """A trained model (``teacher``) whose ``served`` items take ``scale`` times the content
    student's embedding; users and every other item keep the teacher's. It scores through
    the same :func:`kgrec.ranking.embeddings` as any model, so evaluation, recommendation and
    publishing serve new items. Scoring only: it does not train.

    Args:
        teacher: the trained model.
        student: a fitted :class:`ContentStudent` over the teacher's items.
        served: ``[num_items]`` boolean, the items that take the student's embedding.
        scale: factor on the student's embeddings (see the module docstring).
    """

    def __init__(
        self,
        teacher: GraphRecommender,
        student: ContentStudent | StudentEnsemble,
        served: Tensor,
        scale: float,
    ) -> None:
        super().__init__(teacher.num_users, teacher.num_items)
        if student.num_items != teacher.num_items:
            raise ValueError(
                f"the student has {student.num_items} items, the teacher {teacher.num_items}"
            )
        if served.shape != (teacher.num_items,):
            raise ValueError(
                f"served must have shape ({teacher.num_items},), got {tuple(served.shape)}"
            )
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        self.teacher = teacher
        self.student = student
        self.scale = float(scale)
        self.register_buffer("served", served.to(torch.bool), persistent=False)
        self.eval()  # it scores: no dropout in the student

    def reset_parameters(self) -> None:
        """Nothing to reset here: the teacher and the student are trained before."""

    def forward(
        self,
        edge_index: Tensor,
        edge_type: Tensor | None = None,
        *,
        n_id: Tensor | None = None,
        degree: Tensor | None = None,
    ) -> Tensor:
        if n_id is not None:
            self.require_sampling()
        out = self.teacher(edge_index, edge_type)
        items = self.served.nonzero().flatten()
        if not items.numel():
            return out
        out = out.clone()
        out[self.num_users + items] = self.scale * self.student(items).to(out.dtype)
        return out

    @torch.no_grad()
    def embed_new_items(self, text: Tensor, attributes: Tensor | None = None) -> Tensor:
        """The served embeddings of items the model has never seen (loaded after training),
        from their ``[n, d_text]`` text vectors and attributes
        (:meth:`ContentStudent.embed_text`)."""
        return self.scale * self.student.embed_text(text, attributes)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.teacher!r}, {self.student!r}, "
            f"served={int(self.served.sum())}, scale={self.scale})"
        )


def trained_items(model: GraphRecommender, graph: Data) -> Tensor:
    """``[num_items]`` boolean: the items with a user -> item edge in ``graph`` (the training
    interactions the model propagated over)."""
    _, items = model.interactions(graph.edge_index)
    trained = torch.zeros(model.num_items, dtype=torch.bool)
    trained[items.cpu()] = True
    return trained


def learnt_items(model: GraphRecommender, graph: Data) -> Tensor:
    """``[num_items]`` boolean: the items whose embedding in ``model`` holds something it
    learnt, from which a newcomer can be folded in: those with training interactions, those a
    content student serves, and for a model with a text MLP those with text. Every item for a
    model whose users are a function of their items (it has its own ``fold_in``: popularity,
    EASE, text similarity). The others keep their random initial embeddings."""
    if type(model).fold_in is not GraphRecommender.fold_in:
        return torch.ones(model.num_items, dtype=torch.bool)
    if isinstance(model, StudentItems):
        return learnt_items(model.teacher, graph) | model.served.cpu()
    learnt = trained_items(model, graph)
    if getattr(model, "text_input", None) is not None:
        learnt |= _has_text(graph)
    return learnt


def drop_untrained_ids(model: GraphRecommender, graph: Data, split: Split) -> dict:
    """Score ``model``'s items without a training interaction (user -> item edge in ``graph``)
    and with text without their ID embedding (:meth:`kgrec.models.layers.TextInput.drop_ids`:
    the text MLP's output alone); returns the record (items served, all and of ``split``'s
    target domain). ``model`` must take text
    through a :class:`~kgrec.models.layers.TextInput` in ``"add"`` mode."""
    text_input = getattr(model, "text_input", None)
    if text_input is None or text_input.mode != "add":
        raise ValueError(
            f"{model.__class__.__name__} adds no text MLP output to ID embeddings "
            "(text_input='add'): there is no ID embedding to leave out"
        )
    served = ~trained_items(model, graph) & _has_text(graph)
    nodes = torch.zeros(model.text_features.size(0), dtype=torch.bool)
    nodes[model.num_users + served.nonzero().flatten()] = True
    text_input.drop_ids(nodes.to(model.text_features.device))
    return _served_record(served, graph, split)


@torch.no_grad()
def choose_scale(
    user_emb: Tensor,
    item_emb: Tensor,
    student_emb: Tensor,
    served: Tensor,
    item_domain: Tensor,
    split: Split,
    scales: Sequence[float] = SCALES,
) -> tuple[float, dict[str, float]]:
    """The scale of :data:`SCALES` whose served embeddings (``item_emb`` with the ``served``
    rows ``scale * student_emb``) give the best validation NDCG@20 over the whole target
    catalogue (the first on a tie), and every candidate's figure."""
    rows = served.nonzero().flatten().to(item_emb.device)
    figures: dict[str, float] = {}
    best = None
    for scale in scales:
        items = item_emb.clone()
        items[rows] = scale * student_emb[rows].to(items.dtype)
        metrics = evaluate_embeddings(user_emb, items, item_domain, split, "valid")
        figures[str(scale)] = round(metrics["all"].get(SCORE_METRIC, 0.0), 6)
        if best is None or figures[str(scale)] > figures[str(best)]:
            best = scale
    return float(best), figures


def serve_new_items(
    teacher: GraphRecommender,
    graph: Data,
    split: Split,
    *,
    item_entity: Tensor | None = None,
    attributes: Tensor | None = None,
    seed: int = 0,
    scale: float | None = None,
) -> tuple[StudentItems, dict]:
    """Distil ``teacher`` (trained over its message ``graph``, which has the nodes' text as
    ``x``/``x_mask``) into a :class:`ContentStudent` (reading the items' ``attributes`` beside
    their text, and the knowledge graph's ``item_entity`` links, where given) on the items
    with training interactions and text, and return the model that serves the others with
    it, and the record of what was done (run.json's ``cold_items``): the distillation
    (:func:`distil`), the attribute columns read, the items served, the mean norms of the
    teacher's warm and the student's served embeddings, and the scale
    (given, or :func:`choose_scale`'s, with every candidate's validation figure)."""
    user_emb, item_emb = embeddings(teacher, graph)
    device = item_emb.device
    has_text = _has_text(graph)
    trained = trained_items(teacher, graph)
    served = ~trained & has_text
    warm = (trained & has_text).nonzero().flatten().to(device)
    members, fits = [], []
    for k in range(MEMBERS):
        member_seed = seed + MEMBER_SEED_STEP * k
        torch.manual_seed(member_seed)
        members.append(_student(graph, item_emb.size(1), item_entity, attributes).to(device))
        fits.append(distil(members[-1], item_emb, warm, seed=member_seed))
    student = StudentEnsemble(members)
    record: dict = {
        "distillation": _fits_record(fits),
        "attribute_columns": members[0].inputs.size(1) - members[0].text_channels,
    }
    with torch.no_grad():
        student_emb = student()
    record.update(
        _served_record(served, graph, split),
        teacher_norm=round(float(item_emb[warm].norm(dim=1).mean()), 4),
        student_norm=round(float(student_emb[served.to(device)].norm(dim=1).mean()), 4)
        if served.any()
        else None,
    )
    if scale is None:
        scale, record["valid_ndcg@20_by_scale"] = choose_scale(
            user_emb, item_emb, student_emb, served, graph.item_domain, split
        )
    record["scale"] = scale
    return StudentItems(teacher, student, served.to(device), scale), record


def restore_student(
    teacher: GraphRecommender,
    graph: Data,
    state: dict[str, Tensor],
    scale: float,
    *,
    item_entity: Tensor | None = None,
    attributes: Tensor | None = None,
) -> StudentItems:
    """The :class:`StudentItems` of a run from its trained ``teacher`` and ``graph`` and the
    student's saved ``state`` and ``scale`` (as :func:`serve_new_items` made them, with the
    same ``item_entity`` and ``attributes``; a student saved without attributes, by an older
    kgrec, is rebuilt without them)."""
    if any(key.startswith("mlps.") for key in state):
        state = _members_of_one_student(state)
    elif not any(key.startswith("members.") for key in state):  # an older kgrec's: one student
        state = {f"members.0.{key}": value for key, value in state.items()}
    if "members.0.mlp.0.weight" not in state or "members.0.mlp.3.weight" not in state:
        raise ValueError("the student's state has no MLP weights: not a content student's")
    if attributes is not None and state["members.0.mlp.0.weight"].size(1) == graph.x.size(1):
        attributes = None  # saved by an older kgrec, before attributes
    size = state["members.0.mlp.3.weight"].size(0)
    count = len({key.split(".")[1] for key in state if key.startswith("members.")})
    student = StudentEnsemble(
        [_student(graph, size, item_entity, attributes) for _ in range(count)]
    )
    student.load_state_dict(state)
    student.eval()
    served = ~trained_items(teacher, graph) & _has_text(graph)
    return StudentItems(teacher, student, served, scale)


def _members_of_one_student(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A student's state as kgrec saved it at commit bd1ccc1 (one student whose embedding is
    the mean of its MLPs ``mlps.K`` plus one shared entity table) as the state of the
    :class:`StudentEnsemble` that computes the same: member ``K`` with MLP ``K`` and the
    shared entities (the mean of ``mlp_K + kg`` is the mean of the MLPs plus ``kg``)."""
    count = len({key.split(".")[1] for key in state if key.startswith("mlps.")})
    members: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("mlps."):
            _, k, rest = key.split(".", 2)
            members[f"members.{k}.mlp.{rest}"] = value
        else:
            members.update({f"members.{k}.{key}": value for k in range(count)})
    return members


def _student(
    graph: Data,
    out_channels: int,
    item_entity: Tensor | None,
    attributes: Tensor | None = None,
) -> ContentStudent:
    if "x" not in graph:
        raise ValueError("the graph has no text vectors (x): the student reads the items' text")
    items = slice(graph.num_users, graph.num_users + graph.num_items)
    return ContentStudent(
        graph.x[items].cpu(),
        out_channels,
        attributes=None if attributes is None else attributes.cpu(),
        item_entity=item_entity,
        num_entities=graph.num_entities if item_entity is not None else 0,
    )


def _fits_record(fits: list[dict[str, float | int]]) -> dict:
    """The members' :func:`distil` records in one: the items of the first, each member's
    epochs, and the mean of their held-out figures."""
    record: dict = {"members": len(fits)}
    record.update({key: fits[0][key] for key in ("items_fitted", "items_held_out")})
    record.update({key: [fit[key] for fit in fits] for key in ("epochs_run", "best_epoch")})
    for key in ("held_out_mse_before", "held_out_mse", "held_out_cosine_before", "held_out_cosine"):
        record[key] = round(sum(float(fit[key]) for fit in fits) / len(fits), 6)
    return record


def _served_record(served: Tensor, graph: Data, split: Split) -> dict[str, int]:
    in_target = graph.item_domain.cpu() == split.target_domain
    return {
        "served_items": int(served.sum()),
        "served_target_items": int((served & in_target).sum()),
    }


def _has_text(graph: Data) -> Tensor:
    return graph.x_mask[graph.num_users : graph.num_users + graph.num_items].cpu().to(torch.bool)
