"""`python -m training.judge_check`: the command lives in training/experiments/judge_check.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.experiments.judge_check import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
