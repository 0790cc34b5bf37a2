"""Fusion diagrams: rooted binary trees over named leaves, with output irreps.

Grammar (whitespace is ignored)::

    diagram := tree "->" irreps
    tree    := NAME | "(" tree "," tree ")"
    NAME    := [A-Za-z_][A-Za-z0-9_]*
    irreps  := an e3nn irreps string, e.g. "0e + 1o + 2e"

Leaves with the same name are the *same* tensor (e.g. ``((A, A), A)`` is a cube of
``A``). The irreps of each leaf are supplied separately, when a block is built.

Nodes are numbered once, for every later stage: leaves ``0 .. n_leaves-1`` from left
to right, then internal nodes in post-order, so the root is the last node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from fusionpot._e3nn import o3


@dataclass(frozen=True)
class Leaf:
    """A named input of the diagram."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Node:
    """A vertex fusing two subtrees with a Clebsch–Gordan coupling."""

    left: Tree
    right: Tree

    def __str__(self) -> str:
        return f"({self.left}, {self.right})"


Tree = Leaf | Node

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DiagramSyntaxError(ValueError):
    """A diagram string that does not parse; the message shows where."""

    def __init__(self, text: str, position: int, problem: str) -> None:
        self.text = text
        self.position = position
        self.problem = problem
        super().__init__(f"{problem} at position {position}:\n  {text}\n  {' ' * position}^")


class _TreeParser:
    """Recursive-descent parser of ``text[:end]`` (errors quote the whole text)."""

    def __init__(self, text: str, end: int) -> None:
        self.text = text
        self.end = end
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < self.end and self.text[self.pos].isspace():
            self.pos += 1

    def found(self) -> str:
        return repr(self.text[self.pos]) if self.pos < self.end else "'->'"

    def expect(self, symbol: str, what: str) -> None:
        self.skip_space()
        if not self.text.startswith(symbol, self.pos) or self.pos >= self.end:
            raise DiagramSyntaxError(self.text, self.pos, f"expected {what}, found {self.found()}")
        self.pos += len(symbol)

    def tree(self) -> Tree:
        self.skip_space()
        if self.pos < self.end and self.text[self.pos] == "(":
            self.pos += 1
            left = self.tree()
            self.expect(",", "',' between two subtrees")
            right = self.tree()
            self.expect(")", "')' closing a pair")
            return Node(left, right)
        match = _NAME.match(self.text, self.pos, self.end)
        if match is None:
            raise DiagramSyntaxError(
                self.text, self.pos, f"expected a leaf name or '(', found {self.found()}"
            )
        self.pos = match.end()
        return Leaf(match.group())


def parse_irreps_list(text: str, what: str) -> tuple[o3.Irrep, ...]:
    """Parse an irreps string into one ``Irrep`` per copy (``"2x0e+1o"`` gives 3 items)."""
    try:
        irreps = o3.Irreps(text)
    except (ValueError, AssertionError) as error:
        raise ValueError(f"cannot parse {what} {text!r} as irreps: {error}") from None
    items = tuple(irrep for mul, irrep in irreps for _ in range(mul))
    if not items:
        raise ValueError(f"{what} {text!r} is empty")
    return items


def format_irreps_list(irreps: tuple[o3.Irrep, ...]) -> str:
    """Inverse of :func:`parse_irreps_list`, e.g. ``"0e+1o+1o"``."""
    return "+".join(str(irrep) for irrep in irreps)


@dataclass(frozen=True)
class FusionDiagram:
    """A fusion diagram: a binary tree over named leaves and the irreps of its root.

    ``FusionDiagram.parse(str(d)) == d`` for every diagram ``d``.

    >>> d = FusionDiagram.parse("((A, A), (A, h)) -> 0e + 1o + 2e")
    >>> d.leaf_names, d.n_vertices
    (('A', 'A', 'A', 'h'), 3)
    >>> str(d)
    '((A, A), (A, h)) -> 0e+1o+2e'
    """

    tree: Tree
    irreps_out: tuple[o3.Irrep, ...]

    @classmethod
    def parse(cls, text: str) -> FusionDiagram:
        if not isinstance(text, str):
            raise TypeError(f"a diagram is written as a string, got {type(text).__name__}")
        arrow = text.find("->")
        if arrow < 0:
            raise DiagramSyntaxError(text, len(text), "missing '-> <output irreps>'")
        parser = _TreeParser(text, arrow)
        tree = parser.tree()
        parser.skip_space()
        if parser.pos != arrow:
            raise DiagramSyntaxError(text, parser.pos, "unexpected text after the tree")
        if isinstance(tree, Leaf):
            raise DiagramSyntaxError(text, 0, "a diagram needs at least one vertex, e.g. (A, B)")
        irreps_out = parse_irreps_list(text[arrow + 2 :].replace(" ", ""), "output")
        return cls(tree, irreps_out)

    def __str__(self) -> str:
        return f"{self.tree} -> {format_irreps_list(self.irreps_out)}"

    def __repr__(self) -> str:
        return f"FusionDiagram.parse({str(self)!r})"

    @cached_property
    def leaf_names(self) -> tuple[str, ...]:
        """Name of each leaf position, left to right."""
        return _number_nodes(self.tree)[0]

    @cached_property
    def vertices(self) -> tuple[tuple[int, int], ...]:
        """``(left child, right child)`` node indices of each internal node, post-order.

        Internal node ``k`` (0-based in this tuple) has node index ``n_leaves + k``.
        """
        return _number_nodes(self.tree)[1]

    @cached_property
    def subtrees(self) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """Leaf positions and vertex indices under every node, in node order."""
        subtrees: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
            ((k,), ()) for k in range(self.n_leaves)
        ]
        for v, (left, right) in enumerate(self.vertices):
            (leaves_l, vertices_l), (leaves_r, vertices_r) = subtrees[left], subtrees[right]
            subtrees.append((leaves_l + leaves_r, (*vertices_l, *vertices_r, v)))
        return tuple(subtrees)

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_names)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def unique_leaf_names(self) -> tuple[str, ...]:
        """Leaf names in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(self.leaf_names))


def _number_nodes(tree: Tree) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Leaf names left to right, and the children of each internal node in post-order."""
    names: list[str] = []

    def collect(subtree: Tree) -> None:
        if isinstance(subtree, Leaf):
            names.append(subtree.name)
        else:
            collect(subtree.left)
            collect(subtree.right)

    collect(tree)
    next_leaf = iter(range(len(names)))
    vertices: list[tuple[int, int]] = []

    def number(subtree: Tree) -> int:
        if isinstance(subtree, Leaf):
            return next(next_leaf)
        children = (number(subtree.left), number(subtree.right))
        vertices.append(children)
        return len(names) + len(vertices) - 1

    number(tree)
    return tuple(names), tuple(vertices)


def caterpillar(leaf: str, nu: int, irreps_out: str) -> FusionDiagram:
    """The left-leaning tree ``((…((x, x), x)…), x)`` over ``nu`` copies of ``leaf``.

    With per-path weights this is MACE's product basis of body order ``nu + 1``.

    >>> str(caterpillar("A", 3, "0e+1o"))
    '((A, A), A) -> 0e+1o'
    """
    if nu < 2:
        raise ValueError(f"a caterpillar needs nu >= 2 copies, got {nu}")
    text = leaf
    for _ in range(nu - 1):
        text = f"({text}, {leaf})"
    return FusionDiagram.parse(f"{text} -> {irreps_out}")


def balanced(leaves: list[str], irreps_out: str) -> FusionDiagram:
    """A balanced binary tree over ``leaves`` in the given order.

    >>> str(balanced(["A", "A", "A", "h"], "0e"))
    '((A, A), (A, h)) -> 0e'
    """
    if len(leaves) < 2:
        raise ValueError(f"a diagram needs at least two leaves, got {leaves}")

    def build(names: list[str]) -> str:
        if len(names) == 1:
            return names[0]
        half = (len(names) + 1) // 2
        return f"({build(names[:half])}, {build(names[half:])})"

    return FusionDiagram.parse(f"{build(leaves)} -> {irreps_out}")
