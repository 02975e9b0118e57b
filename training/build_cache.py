"""`python -m training.build_cache`: the command lives in training/data/build_cache.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.data.build_cache import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
