"""`python -m training.prepare`: the command lives in training/data/prepare.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.data.prepare import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
