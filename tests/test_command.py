"""Tests for scheduler.command: every value reaches a real program exactly, in every context."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scheduler.command import (
    BARE,
    COMMENT,
    DOUBLE,
    SINGLE,
    CommandError,
    format_value,
    problems,
    render,
    scan,
)

# Prints its arguments as JSON: what the program received, with no shell in between.
ARGV = f"{sys.executable} -c 'import sys,json; print(json.dumps(sys.argv[1:]))'"

NASTY = [
    "a b",
    "  two  spaces  ",
    "it's",
    'say "hi"',
    "both ' and \"",
    "$HOME",
    "$(touch MARKER)",
    "`touch MARKER`",
    "${HOME}",
    "back\\slash",
    "\\",
    "ends with \\",
    "line1\nline2",
    "\n",
    "a;b",
    "x && touch MARKER",
    "a | b > c",
    "-n",
    "--flag=1",
    "héllo ✓ 東京",
    "",
    "*",
    "~",
    "#not a comment",
    "{{ other }}",
    "tab\there",
]

# (template, how the program's argv is built from the value)
CONTEXTS = {
    "bare word": (ARGV + " {{ v }}", lambda v: [v]),
    "part of a word": (ARGV + " --tag={{ v }}.x", lambda v: [f"--tag={v}.x"]),
    "double quotes": (ARGV + ' --tag="{{ v }}"', lambda v: [f"--tag={v}"]),
    "inside double quotes": (ARGV + ' "a {{ v }} b"', lambda v: [f"a {v} b"]),
    "single quotes": (ARGV + " '{{ v }}'", lambda v: [v]),
    "inside single quotes": (ARGV + " 'a {{ v }} b'", lambda v: [f"a {v} b"]),
    "twice, mixed": (ARGV + ' {{ v }} "{{ v }}"', lambda v: [v, v]),
    "in $( ) in quotes": (ARGV + ' "$(printf %s "{{ v }}")"', lambda v: [v.rstrip("\n")]),
    "and in a comment": (ARGV + " {{ v }} # {{ v }} # && touch MARKER", lambda v: [v]),
}


def run_sh(cmd: str, cwd: str) -> list[str]:
    result = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, (cmd, result.stderr)
    return json.loads(result.stdout)


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_it_gives_the_program_every_value_exactly(context: str, tmp_path) -> None:
    template, expected = CONTEXTS[context]
    for value in NASTY:
        cmd = render(template, {"v": value, "other": "no"})
        assert run_sh(cmd, str(tmp_path)) == expected(value), (value, cmd)
    assert not (tmp_path / "MARKER").exists()  # nothing in a value ever ran


def test_it_renders_each_part_of_a_list_command_on_its_own(tmp_path) -> None:
    parts = ["cd .", ARGV + ' "{{ v }}"', ARGV + " '{{ v }}' {{ v }}"]
    cmd = render(parts, {"v": "it's $(touch MARKER)"})
    result = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True, cwd=tmp_path)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [["it's $(touch MARKER)"], ["it's $(touch MARKER)"] * 2]
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "True"),
        (False, "False"),
        (None, "None"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (1.0, "1.0"),
        (3, "3"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "1e+16"),
        ("relu", "relu"),
    ],
)
def test_it_writes_values_as_python_str_as_polyaxon_jinja_did(value: object, text: str) -> None:
    assert format_value(value) == text
    assert render("x {{ v }}", {"v": value}) == f"x {text}"


def test_it_knows_the_quoting_context_of_each_placeholder() -> None:
    slots, found = scan("""a {{ b }} "x {{ c }}" 'y {{ d }}' $(e "{{ f }}" '{{ g }}' {{ h }})""")
    assert found == []
    contexts = {slot.name: slot.context for slot in slots}
    assert contexts == {
        "b": BARE,
        "c": DOUBLE,
        "d": SINGLE,
        "f": DOUBLE,
        "g": SINGLE,
        "h": BARE,
    }
    assert [s.context for s in scan("a#{{ b }} #{{ c }}\n{{ d }}")[0]] == [BARE, COMMENT, BARE]


def test_it_drops_the_lone_backslashes_a_folded_yaml_continuation_leaves(tmp_path) -> None:
    template = ARGV + " --a={{ a }} \\ --b={{ b }} \\"
    cmd = render(template, {"a": 1, "b": "x y"})
    assert run_sh(cmd, str(tmp_path)) == ["--a=1", "--b=x y"]
    escaped = ARGV + " a\\ b \\$x"  # a backslash inside a word keeps its shell meaning
    assert run_sh(render(escaped, {}), str(tmp_path)) == ["a b", "$x"]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("echo `{{ v }}`", "{{ v }} is inside backquotes"),
        ("echo ${x:-{{ v }}}", "{{ v }} is inside ${...}"),
        ("echo $'{{ v }}'", "{{ v }} is inside $'...'"),
        ("cat <<EOF\n{{ v }}\nEOF", "{{ v }} is after a here-document <<"),
        ("echo \\{{ v }}", "a backslash comes right before {{ v }}"),
        ('echo "\\{{ v }}"', "a backslash comes right before {{ v }}"),
        ("echo 'abc {{ v }}", "run.cmd has an unterminated '"),
        ('echo "abc {{ v }}', 'run.cmd has an unterminated "'),
        ("echo $(echo {{ v }}", "run.cmd has an unterminated $("),
    ],
)
def test_it_refuses_placeholders_it_cannot_quote(template: str, problem: str) -> None:
    found = problems(template)
    assert len(found) == 1 and found[0].startswith(problem), found
    with pytest.raises(CommandError, match="^" + problem.replace("$", r"\$").replace("(", r"\(")):
        render(template, {"v": "x"})


def test_it_accepts_what_the_shell_reads_plainly() -> None:
    for template in [
        "python t.py --lr={{ lr }} # a comment",
        "echo 'it''s' \"{{ lr }}\" && echo $((1 + 2)) {{ lr }}",
        'echo "a \\"quoted\\" {{ lr }}" \'\\\' {{ lr }}',
        'x=$(echo "$(echo {{ lr }})") && echo ${x} # {{',
    ]:
        assert problems(template) == [], template


def test_it_refuses_a_value_with_a_nul_character() -> None:
    with pytest.raises(CommandError, match="NUL"):
        render("x {{ v }}", {"v": "a\0b"})


def test_it_raises_key_error_for_an_unknown_name() -> None:
    with pytest.raises(KeyError):
        render("x {{ nope }}", {})
