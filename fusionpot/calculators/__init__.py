"""Calculators for molecular-dynamics engines: ``FusionCalculator`` for ASE."""

from fusionpot.calculators.ase import FusionCalculator

__all__ = ["FusionCalculator"]
