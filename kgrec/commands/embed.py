"""``kgrec embed``: language-model text embeddings for the nodes of a store."""

from __future__ import annotations

import argparse

from kgrec.commands.options import (
    add_device_option,
    add_threads_option,
    model_option,
    path_option,
)
from kgrec.errors import InputError, KgrecError
from kgrec.text import DEFAULT_PROPERTY

EMBED_KINDS = ("Item", "Entity")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "embed",
        description=(
            "Builds a text for every Item and Entity (and User with --users) of the store, "
            "encodes it with a sentence-embedding model and writes the L2-normalised vectors "
            "to the store as a node property; in Neo4j also a cosine vector index per kind. "
            "Nodes without text get no vector and are counted. Vectors are cached by model "
            "and text, so re-running re-encodes only what changed."
        ),
    )
    parser.add_argument("--store", required=True, help="local:PATH or neo4j://HOST:PORT")
    parser.add_argument(
        "--model",
        type=model_option,
        default=None,
        help="Hugging Face model id or local folder (default: the bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--kinds",
        default=",".join(EMBED_KINDS),
        help="comma-separated node kinds to embed, of Item, Entity (default: %(default)s)",
    )
    parser.add_argument("--users", action="store_true", help="embed User nodes as well")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    parser.add_argument(
        "--template-file",
        type=path_option,
        help="JSON or TOML file overriding the text templates (item, entity, entity_unnamed, "
        "user); see kgrec.text.templates for the fields",
    )
    parser.add_argument(
        "--property", default=DEFAULT_PROPERTY, help="node property for the vectors (%(default)s)"
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        type=path_option,
        help="vector cache file (default: $KGREC_CACHE/embeddings/vectors.sqlite)",
    )
    cache.add_argument("--no-cache", action="store_true", help="encode every text afresh")
    add_threads_option(parser)
    add_device_option(parser)
    parser.set_defaults(func=run)


def parse_kinds(value: str, users: bool) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    bad = [k for k in kinds if k not in EMBED_KINDS]
    use = f"use {', '.join(EMBED_KINDS)} (and --users for the User nodes)"
    if bad:
        raise KgrecError(f"--kinds: unknown node kind(s) {', '.join(bad)}; {use}")
    kinds = list(dict.fromkeys(kinds + (["User"] if users else [])))
    if not kinds:
        raise KgrecError(f"--kinds names no node kind (and no --users): {use}")
    return kinds


def run(args: argparse.Namespace) -> int:
    from kgrec.text.embed import embed_store
    from kgrec.text.encoder import ModelNotFoundError, resolve_model
    from kgrec.text.templates import DEFAULT_TEMPLATES, load_templates

    # Everything that can be checked without the data, before any work.
    kinds = parse_kinds(args.kinds, args.users)
    try:
        model = resolve_model(args.model)
    except ModelNotFoundError as exc:
        raise InputError(str(exc), field="--model") from None
    templates = load_templates(args.template_file) if args.template_file else DEFAULT_TEMPLATES
    try:
        results = embed_store(
            args.store,
            kinds=kinds,
            model=args.model,
            property=args.property,
            templates=templates,
            cache=args.cache,
            use_cache=not args.no_cache,
            batch_size=args.batch_size,
            device=args.device,
        )
    except InputError as exc:  # the Python API's argument name: the option, here
        if exc.field != "property":
            raise
        raise InputError(exc.message, file=exc.file, line=exc.line, field="--property") from None
    dimension = results[0].vectors.shape[1] if results else 0
    print(f"model {model.name} ({dimension} dimensions), property {args.property!r}")
    # nodes = no text + vectors; texts (distinct: nodes of one text share its vector) =
    # encoded + cached
    columns = ("nodes", "no text", "vectors", "texts", "encoded", "cached")
    print(f"{'kind':<8}" + "".join(f"{name:>9}" for name in columns))
    for r in results:
        counts = (r.nodes, r.no_text, len(r.keys), r.encoded + r.cached, r.encoded, r.cached)
        print(f"{r.kind:<8}" + "".join(f"{count:>9}" for count in counts))
    print(
        "vectors: one per node with a text; texts: the distinct texts (nodes with the same text "
        "share its vector), encoded by the model or read from the cache"
    )
    return 0
