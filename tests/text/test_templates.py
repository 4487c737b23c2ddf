"""Templates: parts dropped when a field is empty, files in JSON or TOML, clear errors."""

from __future__ import annotations

import pytest

from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.text.templates import (
    DEFAULT_TEMPLATES,
    MAX_TEXT_CHARS,
    MAX_WIDTH,
    load_templates,
    make_template,
)


def test_part_is_dropped_when_any_of_its_fields_is_empty():
    template = make_template("item", ["{label}.", "Genres: {genres}.", "({year}, {domain})"])
    assert template.render({"label": "Heat", "genres": "", "year": "1995", "domain": "m"}) == (
        "Heat. (1995, m)"
    )
    assert template.render({"label": "", "genres": "", "year": "1995", "domain": ""}) == ""


def test_load_json_and_toml_override_only_given_templates(tmp_path):
    json_file = tmp_path / "t.json"
    json_file.write_text('{"item": ["{title}", "({year})"], "user": "{items}"}')
    toml_file = tmp_path / "t.toml"
    toml_file.write_text('entity_unnamed = "Entity known for: {context}"\n')
    from_json = load_templates(json_file)
    assert from_json.item.parts == ("{title}", "({year})")
    assert from_json.user.parts == ("{items}",)
    assert from_json.entity == DEFAULT_TEMPLATES.entity
    from_toml = load_templates(toml_file)
    assert from_toml.entity_unnamed.render({"context": "actor in Heat"}) == (
        "Entity known for: actor in Heat"
    )
    assert from_toml.item == DEFAULT_TEMPLATES.item


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", '{"item": "{title}",\n "user": }', r"bad\.json, line 2"),
        ("bad.toml", 'item = "{title}"\nuser = [', r"bad\.toml, line 2"),
        ("value.toml", 'item = "{title}"\nuser = x\n', r"value\.toml, line 2:.*column 8"),
        ("keys.json", '{"film": "{title}"}', r"field 'film'.*unknown template"),
        ("type.json", '{"item": 3}', r"field 'item'.*string or a list"),
        ("brace.json", '{"item": "{title"}', r"field 'item'.*bad format string"),
        ("positional.json", '{"item": "{} {0}"}', r"field 'item'.*plain names"),
        ("attr.json", '{"item": "{title.__class__}"}', r"field 'item'.*plain names"),
        ("template.yaml", "item: x", r"\.json or \.toml"),
        ("code.json", '{"item": "{title:d}"}', r"field 'item'.*'d' does not apply to text"),
        ("conversion.json", '{"item": "{title!z}"}', r"field 'item'.*unknown conversion '!z'"),
        ("width.json", '{"item": "{title:>300000000}"}', r"width 300,000,000 is above the limit"),
        ("nested.json", '{"user": ["{items:{user_id}}"]}', r"field 'user'.*may not hold fields"),
        ("sign.toml", 'entity = "{name:+}"', r"field 'entity'.*does not apply to text"),
        ("empty.toml", "item = []", r"field 'item'.*the template is empty"),
        ("blank.json", '{"item": ["", " "]}', r"field 'item'.*the template is empty"),
    ],
)
def test_bad_template_files_name_file_and_field(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        load_templates(path)
    assert name in str(caught.value)


def test_a_template_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'entity = "{name}"\nitem = "Caf\xe9 {title}"\n')
    with pytest.raises(InputError, match=r"latin1\.toml, line 2: not UTF-8"):
        load_templates(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("bom.json", '{"item": "{title}"}\n'), ("bom.toml", 'item = "{title}"\n')],
)
def test_a_template_file_with_a_byte_order_mark_reads_as_without(tmp_path, name, content):
    # before: "Unexpected UTF-8 BOM (decode using utf-8-sig)" (JSON) and "Invalid statement (at
    # line 1, column 1)" (TOML), for a mark some editors write and the loaders and split files
    # read past
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    assert load_templates(path).item.parts == ("{title}",)


def test_missing_template_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_templates(tmp_path / "nope.json")


def test_text_format_specs_within_bounds_work():
    template = make_template("item", ["{title:.4}", "[{year:>6}]", "{genres!r}"])
    assert template.render({"title": "Heatwave", "year": "1995", "genres": "Crime"}) == (
        "Heat [  1995] 'Crime'"
    )
    wide = make_template("item", f"{{title:<{MAX_WIDTH}}}|")
    assert len(wide.render({"title": "Heat"})) == MAX_WIDTH + 1
    with pytest.raises(InputError, match="above the limit"):
        make_template("item", f"{{title:>{MAX_WIDTH + 1}}}")


def test_a_rendered_text_is_bounded():
    template = make_template("item", ["{title}", "{genres}"])
    text = template.render({"title": "x" * (MAX_TEXT_CHARS + 10), "genres": "Drama"})
    assert len(text) == MAX_TEXT_CHARS


@pytest.mark.parametrize("template", ["{title:d}", "{title!z}", "{title:>300000000}"])
def test_embed_with_a_bad_template_file_exits_2_before_any_work(tmp_path, capsys, template):
    path = tmp_path / "templates.toml"
    path.write_text(f'item = "{template}"\n')
    store = tmp_path / "never-opened"
    code = main(["embed", "--store", f"local:{store}", "--template-file", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"kgrec embed: error: file {path}, field 'item'" in err
    assert not store.exists()


def test_a_template_with_a_lone_surrogate_is_refused(tmp_path):
    # before: a UnicodeEncodeError traceback from pyarrow when the texts were cached
    from kgrec.text.templates import make_template

    with pytest.raises(InputError, match="not text"):
        make_template("item", "\ud800 {title}", source="t.json")
