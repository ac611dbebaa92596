"""The chain runner behind ``clematis-native``: datasets, stages, coverage and the verify gate."""

from .chain import STAGES, RunOptions, StageFailed, plan, run_chain
from .commit import recover
from .coverage import coverage
from .dataset import (
    ConfinementError,
    Dataset,
    DatasetError,
    generate_dataset,
    open_dataset,
    write_demo_dataset,
)
from .lock import DatasetBusyError, DatasetLock
from .verify import verify

__all__ = ["STAGES", "ConfinementError", "Dataset", "DatasetBusyError", "DatasetError", "DatasetLock",
           "RunOptions", "StageFailed", "coverage", "generate_dataset", "open_dataset", "plan", "recover",
           "run_chain", "verify", "write_demo_dataset"]
