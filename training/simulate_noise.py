"""`python -m training.simulate_noise`: the command lives in training/data/simulate_noise.py."""

import sys

from ropar_core.text_cache import enable_for_training
from training.data.simulate_noise import main

if __name__ == "__main__":
    enable_for_training()  # the commands share the on-disk caption-embedding cache
    sys.exit(main())
