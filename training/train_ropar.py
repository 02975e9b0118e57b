"""`python -m training.train_ropar`: the command lives in training/train/train_ropar.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.train.train_ropar import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
