"""A true minimum of a provider's state: BFGS, then a normal-mode check, and if a mode is
imaginary (a symmetric start often relaxes to a saddle, e.g. planar trans-stilbene), a step
along it and a new relaxation."""

from __future__ import annotations

import ase
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize import BFGS

from fusionpot.namd.initial import harmonic_analysis
from fusionpot.namd.providers import Provider

__all__ = ["ProviderCalculator", "find_minimum"]


class ProviderCalculator(Calculator):
    """One state of a surface-hopping provider as an ASE calculator (energy eV, forces
    eV/Å), for optimisers; float64."""

    implemented_properties = ["energy", "forces"]  # noqa: RUF012 (ASE declares a list)

    def __init__(self, provider: Provider, state: int = 0) -> None:
        super().__init__()
        self.provider = provider
        self.state = state

    def calculate(
        self,
        atoms: ase.Atoms | None = None,
        properties: tuple[str, ...] = ("energy",),
        system_changes: tuple[str, ...] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        positions = torch.tensor(self.atoms.positions[None], dtype=torch.float64)
        result = self.provider.compute(positions, torch.tensor(self.atoms.numbers))
        self.results = {
            "energy": float(result.energies[0, self.state]),
            "forces": result.forces[0, :, self.state].double().numpy(),
        }


def find_minimum(
    provider: Provider,
    start: ase.Atoms,
    state: int = 0,
    fmax: float = 5e-4,
    max_restarts: int = 5,
    step: float = 0.05,
) -> ase.Atoms:
    """Relax ``start`` on ``state`` to max |F| < ``fmax`` eV/Å until every normal mode is
    real (:func:`~fusionpot.namd.initial.harmonic_analysis`, one Hessian per
    relaxation); each time a mode is imaginary, push along the softest mode and relax
    again, at most ``max_restarts`` times (then ``ValueError``). The k-th push (k = 0, 1,
    ...) is ``step``·2^k Å·amu^½ in mass-weighted coordinates, converted to Cartesian: on a
    shallow saddle (e.g. a phenyl torsion of planar trans-stilbene at −60 cm⁻¹) a small
    push leaves every force below ``fmax`` and the relaxation would stop where it started.
    Returns a new ``Atoms`` (numbers and positions only)."""
    atoms = ase.Atoms(start.numbers, start.positions)
    masses = torch.tensor(atoms.get_masses(), dtype=torch.float64)
    numbers = torch.tensor(atoms.numbers)
    inv_sqrt_m = (masses**-0.5)[:, None].numpy()
    for restart in range(max_restarts + 1):
        atoms.calc = ProviderCalculator(provider, state)
        BFGS(atoms, logfile=None).run(fmax=fmax, steps=5000)
        positions = torch.tensor(atoms.positions, dtype=torch.float64)
        omega2, modes = harmonic_analysis(provider, positions, numbers, masses, state)
        if bool((omega2 >= 0).all()):
            return ase.Atoms(atoms.numbers, atoms.positions)
        softest = modes[0].numpy() * inv_sqrt_m  # Cartesian, unit mass-weighted norm
        atoms = ase.Atoms(atoms.numbers, atoms.positions + step * 2**restart * softest)
    raise ValueError(
        f"no minimum of state {state} after {max_restarts} restarts from saddles "
        f"(softest mode ω² {float(omega2[0]):.3g} fs⁻² at the last one)"
    )
