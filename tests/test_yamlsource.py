"""Tests for scheduler.yamlsource: YAML 1.2-style scalars, positions and abuse guards."""

from __future__ import annotations

import math

import pytest

from scheduler.yamlsource import (
    MAX_BYTES,
    Position,
    Problem,
    YamlSourceError,
    load,
)


def problems(text: str) -> list[Problem]:
    with pytest.raises(YamlSourceError) as info:
        load(text)
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-4", 0.0001),
        ("1E5", 100000.0),
        ("-2.5e+3", -2500.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("+3.25", 3.25),
    ],
)
def test_it_reads_exponent_and_dot_numbers_as_floats(text: str, expected: float) -> None:
    value = load(f"x: {text}\n").value["x"]
    assert type(value) is float
    assert value == expected


def test_it_reads_special_floats() -> None:
    value = load("a: .inf\nb: -.Inf\nc: .NaN\n").value
    assert value["a"] == math.inf
    assert value["b"] == -math.inf
    assert math.isnan(value["c"])


@pytest.mark.parametrize("text", ["1:10:2", "190:20:30", "0:1:0.1", "1_000", "12e", "0x", "0b11"])
def test_it_keeps_yaml11_number_forms_as_strings(text: str) -> None:
    assert load(f"x: {text}\n").value["x"] == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), ("-3", -3), ("+7", 7), ("0x1F", 31), ("0o17", 15), ("017", 17), ("0", 0)],
)
def test_it_reads_yaml12_core_integers(text: str, expected: int) -> None:
    value = load(f"x: {text}\n").value["x"]
    assert type(value) is int
    assert value == expected


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_it_keeps_yaml11_booleans_as_strings(text: str) -> None:
    assert load(f"x: {text}\n").value["x"] == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False)],
)
def test_it_reads_true_and_false_as_booleans(text: str, expected: bool) -> None:
    assert load(f"x: {text}\n").value["x"] is expected


def test_it_reads_null_tilde_and_empty_as_none() -> None:
    assert load("a: null\nb: ~\nc:\nd: NULL\ne: 'null'\n").value == {
        "a": None,
        "b": None,
        "c": None,
        "d": None,
        "e": "null",
    }


def test_it_keeps_dates_and_quoted_numbers_as_strings() -> None:
    value = load("a: 2001-12-14\nb: '1e-4'\nc: !!str 12\n").value
    assert value == {"a": "2001-12-14", "b": "1e-4", "c": "12"}


def test_it_honours_explicit_core_tags() -> None:
    assert load("a: !!int '12'\nb: !!float 3\nc: !!bool 'true'\n").value == {
        "a": 12,
        "b": 3.0,
        "c": True,
    }


def test_it_records_one_based_key_and_value_positions() -> None:
    doc = load("top:\n  sub: 1\n  lst:\n    - x\n    - {y: 2}\n")
    assert doc.key_position(("top",)) == Position(1, 1)
    assert doc.position(("top", "sub")) == Position(2, 8)
    assert doc.key_position(("top", "sub")) == Position(2, 3)
    assert doc.position(("top", "lst", 0)) == Position(4, 7)
    assert doc.key_position(("top", "lst", 1, "y")) == Position(5, 8)
    assert doc.position(("top", "lst", 1, "y")) == Position(5, 11)


def test_it_falls_back_to_the_nearest_known_ancestor_position() -> None:
    doc = load("a:\n  b: 1\n")
    assert doc.position(("a", "b", "missing")) == Position(2, 6)
    assert doc.key_position(("nothing",)) == Position(1, 1)


def test_it_reports_a_duplicate_key_at_the_second_key() -> None:
    found = problems("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert found == [Problem(4, 3, "duplicate key 'c' (first defined at line 3)")]


def test_it_reports_every_duplicate_key_at_once() -> None:
    found = problems("a: 1\na: 2\nb: 1\nb: 2\n")
    assert [(p.line, p.column) for p in found] == [(2, 1), (4, 1)]


def test_it_reports_a_tab_as_a_positioned_syntax_error() -> None:
    (found,) = problems("a:\n\tb: 1\n")
    assert (found.line, found.column) == (2, 1)
    assert found.message.startswith("YAML syntax error: found character '\\t'")


def test_it_reports_an_unclosed_flow_sequence_with_its_position() -> None:
    (found,) = problems("a: [1, 2\nb: 3\n")
    assert found.line == 2
    assert "YAML syntax error" in found.message


def test_it_reports_a_second_document_as_an_error() -> None:
    (found,) = problems("a: 1\n---\nb: 2\n")
    assert found.line == 2
    assert "single document" in found.message


def test_it_reports_control_characters_with_their_position() -> None:
    assert problems("a: 1\nb: x\x01y\n") == [
        Problem(2, 5, "character #x0001 is not allowed in YAML")
    ]


def test_it_rejects_text_over_one_mebibyte_before_parsing() -> None:
    text = "a: [" + "1, " * (MAX_BYTES // 3) + "]\n"
    assert problems(text) == [Problem(1, 1, f"the file is larger than {MAX_BYTES} bytes")]


def test_it_counts_the_size_in_utf8_bytes() -> None:
    text = "a: " + "é" * (MAX_BYTES // 2) + "\n"  # fewer characters than bytes
    assert len(text) < MAX_BYTES
    assert "larger than" in problems(text)[0].message


def test_it_stops_a_billion_laughs_document() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (found,) = problems("\n".join(lines) + "\n")
    assert "aliases expand to more than" in found.message


def test_it_allows_a_few_aliases() -> None:
    doc = load("lrs: &lrs [0.1, 0.01]\na: {values: *lrs}\nb: {values: *lrs}\n")
    assert doc.value["a"] == {"values": [0.1, 0.01]}
    assert doc.value["b"]["values"] is not doc.value["a"]["values"]  # plain, unshared copies


def test_it_rejects_a_recursive_alias() -> None:
    (found,) = problems("a: &x [1, *x]\n")
    assert found.message == "a YAML alias refers to itself"
    assert (found.line, found.column) == (1, 4)


def test_it_rejects_deep_nesting() -> None:
    (found,) = problems("[" * 100_000 + "]" * 100_000)
    assert "nests deeper than" in found.message


def test_it_rejects_python_tags() -> None:
    (found,) = problems("a: !!python/object/apply:os.system ['true']\n")
    assert found.message.startswith("unsupported YAML tag 'tag:yaml.org,2002:python/object")
    assert (found.line, found.column) == (1, 4)


def test_it_rejects_merge_keys() -> None:
    (found,) = problems("base: &b {x: 1}\nc:\n  <<: *b\n")
    assert (found.line, found.column) == (3, 3)
    assert "merge keys" in found.message


def test_it_allows_a_quoted_merge_like_key() -> None:
    assert load("'<<': 1\n").value == {"<<": 1}


def test_it_rejects_lists_as_mapping_keys() -> None:
    (found,) = problems("? [a, b]\n: 1\n")
    assert (found.line, found.column) == (1, 3)
    assert "mapping keys must be plain scalars" in found.message


def test_it_reports_an_unreadable_explicit_tag() -> None:
    assert problems("a: !!int abc\n") == [Problem(1, 4, "cannot read 'abc' as !!int")]


def test_it_reports_an_integer_too_long_for_python() -> None:
    (found,) = problems("a: " + "9" * 5000 + "\n")
    assert found.message.startswith("cannot read '999")


def test_it_loads_empty_and_comment_only_text_as_none() -> None:
    assert load("").value is None
    assert load("# nothing here\n").value is None
