"""Ab initio labels for training data: backends behind one interface, and a resumable job.

Backends: :class:`OpenQPLabeller` (MRSF-TDDFT, S0..S{n-1} energies and gradients) and
:class:`XTBLabeller` (tblite GFN1/GFN2-xTB ground state, periodic cells with stress).
Units at this interface: eV, eV/Å, eV/Å³, Å.
"""

from fusionpot.labels.base import Label, LabelError, Labeller, ProgramNotFoundError, check_atoms
from fusionpot.labels.openqp import OpenQPLabeller
from fusionpot.labels.runner import RunSummary, frame_id, label_frames
from fusionpot.labels.xtb import XTBLabeller

__all__ = [
    "Label",
    "LabelError",
    "Labeller",
    "OpenQPLabeller",
    "ProgramNotFoundError",
    "RunSummary",
    "XTBLabeller",
    "check_atoms",
    "frame_id",
    "label_frames",
]
