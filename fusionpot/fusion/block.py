"""``FusionBlock``: the torch module compiled from a fusion diagram.

The block contracts the diagram vertex by vertex, as a tree tensor network does.
Each vertex fuses its two children's features with Clebsch–Gordan couplings; the
*couplings* of a vertex are the distinct ``(left slot, right slot) -> output slot``
triples that the block's paths use there. Couplings of equal ``(l1, l2, l3)`` are
evaluated together: gather their input components, multiply with the one CG
tensor, scatter-add into the output slots.

Two weight modes:

* ``"path"``: one weight per kept path and channel. Internal vertices keep every
  partial path in its own slot (no weights, no summation); the root weights each
  path and sums into the output irreps.
* ``"vertex"``: one weight per coupling and channel at every vertex, so a path's
  weight is the product of its couplings' weights (a tree tensor network over the
  weight space). Internal slots are irreps; couplings into the same irrep are summed.

Features are channel-wise: every leaf is ``[n_nodes, n_channels, dim(leaf irreps)]``
and channel ``c`` of the output only sees channel ``c`` of the leaves.
"""

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import ClassVar, cast

import torch

from fusionpot._e3nn import o3
from fusionpot.fusion.coupling import clebsch_gordan
from fusionpot.fusion.diagram import FusionDiagram, format_irreps_list
from fusionpot.fusion.paths import FusionPath, LeafIrreps, admissible_paths, parse_leaf_irreps
from fusionpot.fusion.selection import PathSelection, select_paths

WEIGHT_MODES = ("path", "vertex")


@dataclass(frozen=True)
class Coupling:
    """One CG coupling at a vertex: input slots, output slot, weight index (or -1)."""

    left: Hashable
    right: Hashable
    out: Hashable
    irreps: tuple[o3.Irrep, o3.Irrep, o3.Irrep]
    weight: int


class _Layout:
    """Ordered slots of a node's feature vector: slot key -> (irrep, offset)."""

    def __init__(self, slots: Mapping[Hashable, o3.Irrep]) -> None:
        self.irrep: dict[Hashable, o3.Irrep] = dict(slots)
        self.offset: dict[Hashable, int] = {}
        offset = 0
        for key, irrep in self.irrep.items():
            self.offset[key] = offset
            offset += irrep.dim
        self.dim = offset

    def indices(self, keys: list[Hashable]) -> torch.Tensor:
        """Component indices of the given slots, concatenated."""
        return torch.tensor(
            [self.offset[k] + m for k in keys for m in range(self.irrep[k].dim)], dtype=torch.long
        )


class _CouplingGroup(torch.nn.Module):
    """All couplings of one vertex that share ``(l1, l2, l3)``."""

    cg: torch.Tensor
    left_index: torch.Tensor
    right_index: torch.Tensor
    out_index: torch.Tensor
    weight_index: torch.Tensor

    def __init__(
        self,
        couplings: list[Coupling],
        left: _Layout,
        right: _Layout,
        out: _Layout,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        ir1, ir2, ir3 = couplings[0].irreps
        self.n_couplings = len(couplings)
        self.dim_left, self.dim_right = ir1.dim, ir2.dim
        cg = clebsch_gordan(ir1.l, ir2.l, ir3.l).reshape(ir1.dim * ir2.dim, ir3.dim)
        self.register_buffer("cg", cg.to(dtype))
        self.register_buffer("left_index", left.indices([c.left for c in couplings]))
        self.register_buffer("right_index", right.indices([c.right for c in couplings]))
        self.register_buffer("out_index", out.indices([c.out for c in couplings]))
        self.register_buffer(
            "weight_index", torch.tensor([c.weight for c in couplings], dtype=torch.long)
        )

    def forward(
        self, x_left: torch.Tensor, x_right: torch.Tensor, weights: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[n, c, dim_left] x [n, c, dim_right] -> [n, c, K * (2 l3 + 1)]``.

        Returns the output components' indices in the vertex's output and their values.
        """
        a = x_left.index_select(-1, self.left_index)
        a = a.unflatten(-1, (self.n_couplings, self.dim_left))
        b = x_right.index_select(-1, self.right_index)
        b = b.unflatten(-1, (self.n_couplings, self.dim_right))
        fused = (a.unsqueeze(-1) * b.unsqueeze(-2)).flatten(-2) @ self.cg
        if weights is not None:
            fused = fused * weights.index_select(-1, self.weight_index).unsqueeze(-1)
        return self.out_index, fused.flatten(-2)


class _Vertex(torch.nn.Module):
    """One internal node: children's features in, this node's features out."""

    def __init__(
        self,
        couplings: list[Coupling],
        layouts: tuple[_Layout, _Layout, _Layout],
        n_weights: int,
        n_channels: int,
        n_elements: int,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.dim_out = layouts[2].dim
        by_type: dict[tuple[int, int, int], list[Coupling]] = {}
        for coupling in couplings:
            key = tuple(ir.l for ir in coupling.irreps)
            by_type.setdefault(key, []).append(coupling)
        self.groups = torch.nn.ModuleList(
            _CouplingGroup(group, *layouts, dtype=dtype) for _, group in sorted(by_type.items())
        )
        self.weighted = n_weights > 0
        self.n_elements = n_elements
        # [max(n_elements, 1), n_weights, n_channels]; empty when unweighted.
        fan_in = _fan_in(couplings, n_weights)
        weight = torch.randn(max(n_elements, 1), n_weights, n_channels, dtype=torch.float64)
        self.weight = torch.nn.Parameter((weight / fan_in.sqrt()[:, None]).to(dtype))

    def channel_weights(self, node_attrs: torch.Tensor | None) -> torch.Tensor:
        """Weights as ``[n_nodes or 1, n_channels, n_weights]``."""
        if self.n_elements > 0:
            if node_attrs is None:
                raise ValueError("this block has per-element weights: pass node_attrs")
            weights = torch.einsum("ne,ewc->ncw", node_attrs, self.weight)
        else:
            weights = self.weight[0].transpose(0, 1).unsqueeze(0)
        return weights

    def forward(
        self, x_left: torch.Tensor, x_right: torch.Tensor, node_attrs: torch.Tensor | None
    ) -> torch.Tensor:
        weights: torch.Tensor | None = None
        if self.weighted:
            weights = self.channel_weights(node_attrs)
        out = x_left.new_zeros(x_left.shape[0], x_left.shape[1], self.dim_out)
        for group in self.groups:
            index, values = group(x_left, x_right, weights)
            out = out.index_add(-1, index, values)
        return out


def _fan_in(couplings: list[Coupling], n_weights: int) -> torch.Tensor:
    """Number of couplings summed into the output slot of each weight (for init scale)."""
    per_slot: dict[Hashable, int] = {}
    for c in couplings:
        per_slot[c.out] = per_slot.get(c.out, 0) + 1
    fan_in = torch.ones(n_weights)
    for c in couplings:
        if c.weight >= 0:
            fan_in[c.weight] = per_slot[c.out]
    return fan_in


class FusionBlock(torch.nn.Module):
    """Equivariant multilinear layer compiled from a fusion diagram.

    Args:
        diagram: a :class:`FusionDiagram` or its string, e.g. ``"((A, A), A) -> 0e+1o"``.
        leaf_irreps: irreps of each leaf name, per channel, e.g. ``{"A": "0e+1o+2e"}``.
        n_channels: number of channels ``c`` (each channel is fused with itself).
        weights: ``"vertex"`` (product of per-coupling weights) or ``"path"``.
        n_elements: when > 0, weights are per element, selected by ``node_attrs``.
        lmax: largest ``l`` on internal edges. Default: the largest leaf ``l`` plus
            the largest output ``l``, which loses nothing for trees of depth two such
            as MACE's ``((A, A), A)``; deeper trees may need more.
        dtype: of weights and coupling tensors (default: torch's default dtype).
            Build float64 blocks with ``dtype=torch.float64`` rather than converting
            a float32 one, whose coupling tensors were rounded to float32.

    Input: ``leaves[name]: [n_nodes, n_channels, dim(leaf_irreps[name])]`` and, with
    per-element weights, ``node_attrs: [n_nodes, n_elements]`` (one-hot).
    Output: ``[n_nodes, n_channels, dim(irreps_out)]``.

    >>> import torch
    >>> block = FusionBlock("((A, A), A) -> 0e+1o", {"A": "0e+1o"}, n_channels=4)
    >>> block({"A": torch.randn(10, 4, 4)}).shape
    torch.Size([10, 4, 4])
    """

    # Python-side description of the block; TorchScript only needs the vertices.
    __jit_ignored_attributes__: ClassVar[list[str]] = [
        "diagram",
        "leaf_irreps",
        "selection",
        "paths",
        "irreps_out",
        "_weight_of",
    ]
    __jit_unused_properties__: ClassVar[list[str]] = ["n_weights"]
    vertex_children: list[tuple[int, int]]

    def __init__(
        self,
        diagram: FusionDiagram | str,
        leaf_irreps: Mapping[str, object],
        n_channels: int,
        weights: str = "vertex",
        n_elements: int = 0,
        lmax: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(diagram, str):
            diagram = FusionDiagram.parse(diagram)
        if weights not in WEIGHT_MODES:
            raise ValueError(f"weights must be one of {WEIGHT_MODES}, got {weights!r}")
        if n_channels < 1:
            raise ValueError(f"n_channels must be positive, got {n_channels}")
        if n_elements < 0:
            raise ValueError(f"n_elements must be >= 0, got {n_elements}")
        self.diagram = diagram
        self.leaf_irreps: LeafIrreps = parse_leaf_irreps(diagram, leaf_irreps)
        self.weight_mode = weights
        self.n_channels = n_channels
        self.n_elements = n_elements
        self.irreps_out = o3.Irreps(format_irreps_list(diagram.irreps_out))

        max_leaf_l = max(ir.l for irs in self.leaf_irreps.values() for ir in irs)
        unbounded = max_leaf_l * diagram.n_leaves + max(ir.l for ir in diagram.irreps_out)
        candidates = admissible_paths(
            diagram, self.leaf_irreps, unbounded if lmax is None else lmax
        )
        self.selection: PathSelection = select_paths(diagram, self.leaf_irreps, candidates)
        if weights == "path":
            self.paths = self.selection.kept
        else:
            self.paths = self._closure(self.selection.nonvanishing, candidates)
        self._check_outputs_reachable()

        self.leaf_names = list(diagram.leaf_names)
        self.vertex_children = list(diagram.vertices)
        self.leaf_dims = {name: sum(ir.dim for ir in irs) for name, irs in self.leaf_irreps.items()}
        dtype = torch.get_default_dtype() if dtype is None else dtype
        plan = self._plan()
        # Python-side bookkeeping for path_weights: coupling -> weight index per vertex.
        self._weight_of = [{(c.left, c.right, c.out): c.weight for c in cs} for cs, _, _ in plan]
        self.vertices = torch.nn.ModuleList(
            _Vertex(couplings, layouts, n_weights, n_channels, n_elements, dtype)
            for couplings, layouts, n_weights in plan
        )

    # ------------------------------------------------------------------ planning
    def _slot(self, path: FusionPath, node: int) -> Hashable:
        """The slot of ``node``'s features that ``path`` passes through."""
        diagram = self.diagram
        if node < diagram.n_leaves:
            return path.leaf_irreps[node]
        if node == diagram.n_leaves + diagram.n_vertices - 1:
            return path.output
        if self.weight_mode == "vertex":
            return path.edges[node - diagram.n_leaves]
        return path.partial(diagram, node)  # path mode: one slot per partial path

    def _couplings(self, path: FusionPath) -> list[tuple[Hashable, Hashable, Hashable]]:
        return [
            (self._slot(path, left), self._slot(path, right), self._slot(path, k))
            for k, (left, right) in enumerate(self.diagram.vertices, start=self.diagram.n_leaves)
        ]

    def _closure(
        self, nonvanishing: tuple[FusionPath, ...], candidates: list[FusionPath]
    ) -> tuple[FusionPath, ...]:
        """All candidate paths made only of couplings that some nonvanishing path uses.

        In vertex mode the tree contraction sums exactly these; the extra ones vanish.
        """
        used = [set() for _ in self.diagram.vertices]  # type: list[set[tuple]]
        for path in nonvanishing:
            for v, coupling in enumerate(self._couplings(path)):
                used[v].add(coupling)
        return tuple(
            path
            for path in candidates
            if all(c in used[v] for v, c in enumerate(self._couplings(path)))
        )

    def _check_outputs_reachable(self) -> None:
        reached = {path.output for path in self.paths}
        missing = [str(ir) for i, ir in enumerate(self.diagram.irreps_out) if i not in reached]
        if missing:
            raise ValueError(
                f"output irreps {missing} of '{self.diagram}' cannot be reached from leaves "
                f"{ {n: format_irreps_list(v) for n, v in self.leaf_irreps.items()} } "
                "(no nonvanishing path); remove them or raise lmax"
            )

    def _plan(self) -> list[tuple[list[Coupling], tuple[_Layout, _Layout, _Layout], int]]:
        """Couplings, (left, right, out) layouts and weight count of every vertex."""
        diagram = self.diagram
        n = diagram.n_leaves
        root = n + diagram.n_vertices - 1
        node_irreps = [path.node_irreps(diagram, self.leaf_irreps) for path in self.paths]
        layouts: list[_Layout] = [
            _Layout(dict(enumerate(self.leaf_irreps[name]))) for name in diagram.leaf_names
        ]
        plan = []
        for node, (left, right) in enumerate(diagram.vertices, start=n):
            slots: dict[Hashable, o3.Irrep] = {}
            found: dict[tuple[Hashable, Hashable, Hashable], Coupling] = {}
            weights: dict[Hashable, int] = {}
            for p, (path, irreps) in enumerate(zip(self.paths, node_irreps, strict=True)):
                key = (self._slot(path, left), self._slot(path, right), self._slot(path, node))
                slots[key[2]] = irreps[node]
                if key in found:
                    continue
                if self.weight_mode == "vertex":
                    weight = weights.setdefault(key, len(weights))
                elif node == root:
                    weight = weights.setdefault(p, len(weights))
                else:
                    weight = -1
                found[key] = Coupling(
                    *key, irreps=(irreps[left], irreps[right], irreps[node]), weight=weight
                )
            if node == root:
                slots = dict(enumerate(diagram.irreps_out))
            else:
                slots = dict(sorted(slots.items(), key=lambda item: (item[1].l, item[1].p)))
            layouts.append(_Layout(slots))
            plan.append(
                (list(found.values()), (layouts[left], layouts[right], layouts[node]), len(weights))
            )
        return plan

    # ------------------------------------------------------------------ running
    def forward(
        self, leaves: dict[str, torch.Tensor], node_attrs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Fuse leaves ``[n, n_channels, dim_leaf]`` into ``[n, n_channels, dim_out]``."""
        features: list[torch.Tensor] = []
        for name in self.leaf_names:
            if name not in leaves:
                raise ValueError(f"missing input for leaf '{name}'")
            x = leaves[name]
            if x.dim() != 3 or x.shape[1] != self.n_channels or x.shape[2] != self.leaf_dims[name]:
                raise ValueError(
                    f"leaf '{name}' must have shape [n_nodes, {self.n_channels}, "
                    f"{self.leaf_dims[name]}], got {list(x.shape)}"
                )
            features.append(x)
        for k, vertex in enumerate(self.vertices):
            left, right = self.vertex_children[k]
            features.append(vertex(features[left], features[right], node_attrs))
        return features[-1]

    # ------------------------------------------------------------------ reporting
    @property
    def n_weights(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def path_weights(self, node_attrs: torch.Tensor | None = None) -> torch.Tensor:
        """Effective weight of every path in :attr:`paths`: ``[n_nodes or 1, n_channels, n_paths]``.

        In vertex mode, the product of the path's coupling weights along the tree.
        """
        product: torch.Tensor | None = None
        couplings = [self._couplings(p) for p in self.paths]
        for v, (module, weight_of) in enumerate(zip(self.vertices, self._weight_of, strict=True)):
            vertex = cast(_Vertex, module)
            if not vertex.weighted:
                continue
            index = torch.tensor([weight_of[c[v]] for c in couplings], device=vertex.weight.device)
            factor = vertex.channel_weights(node_attrs).index_select(-1, index)
            product = factor if product is None else product * factor
        assert product is not None, "every block has a weighted root"
        return product

    def describe(self) -> str:
        """Every path of the block, one per line, with the tree's edges labelled."""
        return "\n".join(p.describe(self.diagram, self.leaf_irreps) for p in self.paths)

    def extra_repr(self) -> str:
        leaves = ", ".join(f"{n}: {format_irreps_list(v)}" for n, v in self.leaf_irreps.items())
        selection = self.selection
        return (
            f"{self.diagram} | {leaves} | {self.n_channels} channels | {self.weight_mode} weights"
            f"{f' per element ({self.n_elements})' if self.n_elements else ''} | "
            f"{len(selection.kept)} independent paths "
            f"({len(selection.vanishing)} vanishing, {len(selection.redundant)} repeated dropped) "
            f"| {self.n_weights} weights"
        )
