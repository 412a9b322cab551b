from __future__ import annotations

from codepager.context.postprocess import cursor_shape, postprocess


def test_mid_line_completion_is_one_line() -> None:
    assert postprocess("run(a, b)\nprint(1)\n", "x = ", "\n") == "run(a, b)"


def test_open_brackets_continue_over_lines() -> None:
    raw = "run(\n    a,\n    b,\n)\nprint(1)\n"
    assert postprocess(raw, "x = ", "\n") == "run(\n    a,\n    b,\n)"


def test_closer_belonging_to_the_suffix_is_dropped() -> None:
    assert postprocess("a, b)\nfoo()", "x = f(", ")\n") == "a, b"
    assert postprocess("a, b))", "x = f(", ")\n") == "a, b"


def test_text_repeating_the_suffix_line_is_dropped() -> None:
    assert postprocess("return x\n", "def f(x):\n    y = 1\n    ", "\n    return x\n") == ""


def test_python_block_body_is_multiline_and_stops_at_dedent() -> None:
    prefix = "def area(r):\n    "
    raw = "pi = 3.14\n    return pi * r * r\n\ndef other():\n    pass\n"
    assert cursor_shape(prefix, "\n").multiline
    assert postprocess(raw, prefix, "\n") == "pi = 3.14\n    return pi * r * r"


def test_block_with_existing_body_gets_one_statement() -> None:
    prefix = "def area(r):\n    "
    assert not cursor_shape(prefix, "\n    return 1\n").multiline
    assert postprocess("pi = 3.14\n    return 2\n", prefix, "\n    return 1\n") == "pi = 3.14"


def test_brace_block_stops_at_its_closing_brace() -> None:
    prefix = "function f(a) {\n  "
    raw = "if (a) { return 1; }\n  return 2;\n}\nfunction g() {}\n"
    assert postprocess(raw, prefix, "\n") == "if (a) { return 1; }\n  return 2;"


def test_stop_texts_end_the_completion() -> None:
    assert postprocess("value<|file_sep|>other.py", "x = ", "\n", stop_texts=("<|file_sep|>",)) == "value"


def test_brackets_inside_strings_do_not_count() -> None:
    assert postprocess("print(')')\nnext()", "", "\n") == "print(')')"
