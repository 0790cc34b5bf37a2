"""Parsing, printing and numbering of fusion diagrams."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusionpot.fusion import DiagramSyntaxError, FusionDiagram, balanced, caterpillar

NAMES = st.sampled_from(["A", "B", "h", "x_1"])


@st.composite
def trees(draw, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(NAMES)
    return f"({draw(trees(depth - 1))}, {draw(trees(depth - 1))})"


@settings(max_examples=100, deadline=None)
@given(
    left=trees(),
    right=trees(),
    out=st.lists(st.sampled_from(["0e", "1o", "2e", "1e", "3o"]), min_size=1, max_size=3),
)
def test_parse_of_str_is_identity(left: str, right: str, out: list[str]) -> None:
    diagram = FusionDiagram.parse(f"({left}, {right}) -> {' + '.join(out)}")
    assert FusionDiagram.parse(str(diagram)) == diagram
    assert eval(repr(diagram), {"FusionDiagram": FusionDiagram}) == diagram
    assert hash(FusionDiagram.parse(str(diagram))) == hash(diagram)
    # Post-order numbering: every vertex's children come before it.
    for k, (a, b) in enumerate(diagram.vertices, start=diagram.n_leaves):
        assert a < k and b < k
    assert len(diagram.vertices) == diagram.n_leaves - 1


def test_numbering_of_a_balanced_tree() -> None:
    d = FusionDiagram.parse("((A, A), (A, h)) -> 0e + 1o + 2e")
    assert d.leaf_names == ("A", "A", "A", "h")
    assert d.vertices == ((0, 1), (2, 3), (4, 5))
    assert d.unique_leaf_names == ("A", "h")
    assert [str(ir) for ir in d.irreps_out] == ["0e", "1o", "2e"]


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("((A, A) (A, h)) -> 0e", 8, "expected ','"),
        ("((A, A), (A, h) -> 0e", 16, "expected ')'"),
        ("((A, A), (A, 3h)) -> 0e", 13, "expected a leaf name"),
        ("(A, B) C -> 0e", 7, "unexpected text"),
        ("(A, B)", 6, "missing '->"),
        ("A -> 0e", 0, "at least one vertex"),
    ],
)
def test_syntax_errors_name_position_and_problem(text: str, position: int, problem: str) -> None:
    with pytest.raises(DiagramSyntaxError, match=re.escape(problem)) as info:
        FusionDiagram.parse(text)
    assert info.value.position == position
    assert text in str(info.value)


def test_bad_output_irreps_are_named() -> None:
    with pytest.raises(ValueError, match="'0x'"):
        FusionDiagram.parse("(A, B) -> 0x")


def test_constructors() -> None:
    assert str(caterpillar("A", 4, "0e")) == "(((A, A), A), A) -> 0e"
    assert str(balanced(["A", "B", "C"], "1o")) == "((A, B), C) -> 1o"
    with pytest.raises(ValueError, match="nu >= 2"):
        caterpillar("A", 1, "0e")
