"""`python -m training.build_agreement`: the command lives in training/train/build_agreement.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.train.build_agreement import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
