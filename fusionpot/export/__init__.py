"""Export to one TorchScript file with metadata (``export_model``) and load it back.

The file runs with ``torch.jit.load`` alone (Python or C++): see
:mod:`fusionpot.export.torchscript` for the module's interface and
:mod:`fusionpot.export.metadata` for the metadata keys.
"""

from fusionpot.export.metadata import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    check_metadata,
    dump_metadata,
    make_metadata,
    parse_metadata,
    read_metadata,
)
from fusionpot.export.torchscript import (
    ExportedPotential,
    SteadyScript,
    convert_dtype,
    export_model,
    load_eager,
    load_exported,
    load_potential,
    metadata_of,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "ExportedPotential",
    "SteadyScript",
    "check_metadata",
    "convert_dtype",
    "dump_metadata",
    "export_model",
    "load_eager",
    "load_exported",
    "load_potential",
    "make_metadata",
    "metadata_of",
    "parse_metadata",
    "read_metadata",
]
