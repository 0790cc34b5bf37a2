"""Training and evaluation of Fusion-MACE and stock-MACE potentials (``fusionpot train``).

>>> from fusionpot.train import TrainConfig
>>> TrainConfig.from_dict({"data": {"train": "train.extxyz"}}).training.scheduler
'plateau'
"""

from fusionpot.train.committee import member_dir, train_committee
from fusionpot.train.config import DataConfig, OptimConfig, TrainConfig, load_config
from fusionpot.train.dataset import LabelledFrames, detect_keys, labelled_frames, read_files
from fusionpot.train.distributed import process_group
from fusionpot.train.evaluate import Predictions, evaluate
from fusionpot.train.graphs import FrameGraphs
from fusionpot.train.loop import Splits, TrainResult, load_splits, resolve_device, run_training
from fusionpot.train.report import metrics_table, read_metrics_csv
from fusionpot.train.trainer import Trainer

__all__ = [
    "DataConfig",
    "FrameGraphs",
    "LabelledFrames",
    "OptimConfig",
    "Predictions",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "detect_keys",
    "evaluate",
    "labelled_frames",
    "load_config",
    "load_splits",
    "member_dir",
    "metrics_table",
    "process_group",
    "read_files",
    "read_metrics_csv",
    "resolve_device",
    "run_training",
    "train_committee",
]
