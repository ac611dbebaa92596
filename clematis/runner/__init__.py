"""The chain runner behind ``clematis-native``: datasets, stages, coverage and the verify gate."""

from .chain import STAGES, RunOptions, StageFailed, plan, run_chain
from .coverage import coverage
from .dataset import Dataset, DatasetError, generate_dataset, open_dataset, write_demo_dataset
from .verify import verify

__all__ = ["STAGES", "Dataset", "DatasetError", "RunOptions", "StageFailed", "coverage", "generate_dataset",
           "open_dataset", "plan", "run_chain", "verify", "write_demo_dataset"]
