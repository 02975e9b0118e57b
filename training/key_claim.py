"""`python -m training.key_claim`: the command lives in training/experiments/key_claim.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.experiments.key_claim import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
