"""`python -m training.evaluate`: the command lives in training/evaluation/evaluate.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.evaluation.evaluate import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
