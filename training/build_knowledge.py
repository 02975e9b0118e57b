"""`python -m training.build_knowledge`: the command lives in training/train/build_knowledge.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.train.build_knowledge import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
