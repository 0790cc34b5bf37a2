"""``FusionMACEConfig``: everything needed to rebuild a model (the checkpoint stores it).

>>> config = FusionMACEConfig(elements=("H", "C"), n_states=3)
>>> FusionMACEConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from ase.data import atomic_numbers

from fusionpot.fusion.diagram import DiagramSyntaxError, FusionDiagram, parse_irreps_list

__all__ = [
    "CORMORANT_LEAVES",
    "DTYPES",
    "LEAVES",
    "ConfigDict",
    "CormorantConfig",
    "FusionCormorantConfig",
    "FusionFields",
    "FusionMACEConfig",
    "default_dtype",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: leaf names a Fusion-MACE diagram may use: the one-particle basis A and the node's own
#: features h (A is required)
LEAVES = ("A", "h")
#: leaf names a Fusion-Cormorant diagram may use, per edge i <- j: the edge harmonics Y
#: (required), the centre's features c (atom i) and the neighbour's features n (atom j)
CORMORANT_LEAVES = ("Y", "c", "n")


@dataclass(frozen=True)
class ConfigDict:
    """The fields, checks and plain-dict round trip every architecture's config shares.

    elements: chemical symbols the model knows, in species-index order.
    r_max: cutoff in Å; n_radial: Bessel functions; cutoff_p: polynomial cutoff power.
    channels: features per irrep; l_max: largest l of the edge spherical harmonics.
    hidden_irreps: irreps of one channel of the node features, e.g. ``"0e+1o"``; the
        model carries ``channels`` copies of each (the last layer keeps only ``0e``).
    n_layers: message-passing layers (receptive field n_layers × r_max).
    n_states: number of electronic states (1: ground-state potential).
    avg_num_neighbors: normalisation of the neighbour sum.
    radial_mlp: hidden sizes of the radial MLP; readout_mlp: hidden scalars per state in
        the last readout.
    dtype: ``"float32"`` or ``"float64"``.
    """

    #: the architecture's name, recorded in checkpoints (``"fusion-mace"``, ``"mace"``)
    arch: ClassVar[str]
    elements: tuple[str, ...]
    r_max: float = 5.0
    n_radial: int = 8
    cutoff_p: int = 5
    channels: int = 16
    l_max: int = 2
    hidden_irreps: str = "0e+1o"
    n_layers: int = 2
    n_states: int = 1
    avg_num_neighbors: float = 1.0
    radial_mlp: tuple[int, ...] = field(default=(64, 64, 64))
    readout_mlp: int = 16
    dtype: str = "float64"

    def __post_init__(self) -> None:
        # lists from YAML/JSON become tuples, so configs compare and hash as values
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "radial_mlp", tuple(self.radial_mlp))
        self._validate()

    def _validate(self) -> None:
        """Checks of the shared fields; an architecture extends it with its own."""
        if not self.elements:
            raise ValueError("elements must name at least one chemical symbol")
        for symbol in self.elements:
            if symbol not in atomic_numbers or symbol == "X":
                raise ValueError(f"unknown chemical symbol {symbol!r} in elements")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError(f"elements has repeats: {self.elements}")
        for name in ("n_radial", "cutoff_p", "channels", "l_max", "n_layers", "n_states"):
            _check_integer(name, getattr(self, name))
        _check_integer("readout_mlp", self.readout_mlp)
        for width in self.radial_mlp:
            _check_integer("radial_mlp", width)
        positive = ("r_max", "n_radial", "channels", "n_layers", "n_states", "avg_num_neighbors")
        for name in (*positive, "readout_mlp", "cutoff_p"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.l_max < 0:
            raise ValueError(f"l_max must be >= 0, got {self.l_max}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        hidden = parse_irreps_list(self.hidden_irreps, "hidden_irreps")
        if not any(ir.l == 0 and ir.p == 1 for ir in hidden):
            raise ValueError(f"hidden_irreps {self.hidden_irreps!r} needs a 0e for the readout")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, str, numbers): safe for YAML, JSON and torch.save."""
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls: type[_C], data: dict[str, Any]) -> _C:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(names)}")
        return cls(**data)


_C = TypeVar("_C", bound=ConfigDict)


def _check_integer(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


@dataclass(frozen=True)
class FusionFields(ConfigDict):
    """The fields every fusion architecture adds to :class:`ConfigDict`:

    diagram: fusion tree over the architecture's leaves (:attr:`leaves`), without output
        irreps; each layer fuses into its own output irreps.
    weights: ``"vertex"`` or ``"path"`` (see :class:`~fusionpot.fusion.FusionBlock`).
    constant_leaf: append a constant ``1x0e`` to the feature leaves, so that every lower
        order of the diagram's product is included too.
    fusion_lmax: largest l on the diagram's internal edges (None: the block's default).
    """

    diagram: str = ""
    weights: str = "vertex"
    constant_leaf: bool = True
    fusion_lmax: int | None = None
    #: leaf names a diagram may use; the first one it must use
    leaves: ClassVar[tuple[str, ...]]

    def _validate(self) -> None:
        super()._validate()
        if self.fusion_lmax is not None:
            _check_integer("fusion_lmax", self.fusion_lmax)
        if self.weights not in ("path", "vertex"):
            raise ValueError(f"weights must be 'path' or 'vertex', got {self.weights!r}")
        if "->" in self.diagram:
            raise ValueError(
                f"diagram {self.diagram!r}: give the tree only; each layer sets its outputs"
            )
        try:
            tree = FusionDiagram.parse(f"{self.diagram} -> 0e")
        except DiagramSyntaxError as error:
            raise ValueError(f"diagram {self.diagram!r} does not parse: {error}") from None
        required, *optional = self.leaves
        unknown = set(tree.leaf_names) - set(self.leaves)
        if unknown or required not in tree.leaf_names:
            raise ValueError(
                f"diagram {self.diagram!r} must use leaf {required} and may use "
                f"{' and '.join(optional)}; found {sorted(unknown)}"
            )


@dataclass(frozen=True)
class FusionMACEConfig(FusionFields):
    """Hyperparameters of :class:`~fusionpot.models.FusionMACE`: the shared fields of
    :class:`ConfigDict`, and :class:`FusionFields` with

    diagram: a tree over leaves ``A`` (one-particle basis) and ``h`` (the node's
        features entering the layer), e.g. ``"((A, A), (A, h))"``.
    constant_leaf: the constant ``1x0e`` is appended to A (MACE's product basis is the
        caterpillar over A + 1).

    Parsimony options (both off by default; ``bench/param_counts.py`` counts what they
    save, which is where the parameters sit: the radial MLPs hold most of both MACEs):

    fusion_replaces_linear: drop the channel-mixing linear after the product basis; the
        fusion block's root vertex (a weight per element, coupling and channel) is its last
        map. Saves ``channels² × n_irreps`` per layer (12288 of 157648 at 64 channels).
    share_radial_channels: one radial function per tensor-product path, shared by all
        channels, instead of one per path and channel; the radial MLP's last layer shrinks
        ``channels``-fold (the larger saving: 19840 of 65008 at 32 channels).
    """

    diagram: str = "((A, A), A)"
    fusion_replaces_linear: bool = False
    share_radial_channels: bool = False
    arch: ClassVar[str] = "fusion-mace"
    leaves: ClassVar[tuple[str, ...]] = LEAVES

    def _validate(self) -> None:
        super()._validate()
        for name in ("fusion_replaces_linear", "share_radial_channels"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class CormorantConfig(ConfigDict):
    """Hyperparameters of :class:`~fusionpot.models.Cormorant`: the fields of
    :class:`ConfigDict`, read as Cormorant's (Anderson, Hy, Kondor 2019):

    channels: channels of every irrep of the atom activations (Cormorant's num_channels).
    l_max: largest l of the edge spherical harmonics (max_sh); hidden_irreps: the irreps of
        one channel of the activations (maxl, with parities).
    radial_mlp: hidden sizes of each layer's learnable radial functions of the Bessel
        basis; ``[]`` gives Cormorant's radial functions, linear in the basis.
    n_layers: CG layers (levels); readout_mlp: hidden scalars per state in the last readout.
    """

    arch: ClassVar[str] = "cormorant"


@dataclass(frozen=True)
class FusionCormorantConfig(FusionFields):
    """Hyperparameters of :class:`~fusionpot.models.FusionCormorant`: those of
    :class:`CormorantConfig`, and :class:`FusionFields` with

    diagram: a tree over the leaves of one edge i <- j: ``Y`` (the edge harmonics times
        learnable radial functions, required), ``c`` (the centre's activations F_i) and
        ``n`` (the neighbour's F_j); the block's output is summed over the neighbours j.
        Choices (see :class:`~fusionpot.models.cg_layers.FusionCGUpdate`):
        ``"((c, c), (n, Y))"`` (default) holds both of Cormorant's CG products in one
        tree, the square ``F_i ⊗ F_i`` and the aggregate ``Y ⊗ F_j`` (with the constant
        leaf), and their product; ``"((c, n), Y)"`` couples centre, neighbour and edge in
        one trilinear map (no square; ~25 % cheaper); ``"(n, Y)"`` is the aggregate alone.
        On rMD17 ethanol (8 channels, 5 epochs, one seed) the default reached 105 meV/Å
        on the test set, ``((c, n), Y)`` 117 and Cormorant 110.
    constant_leaf: the constant ``1x0e`` is appended to c and n.
    """

    diagram: str = "((c, c), (n, Y))"
    arch: ClassVar[str] = "fusion-cormorant"
    leaves: ClassVar[tuple[str, ...]] = CORMORANT_LEAVES


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Build modules in ``dtype`` (e3nn tabulates its constants in the default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
