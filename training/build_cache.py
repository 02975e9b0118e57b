"""`python -m training.build_cache`: the command lives in training/data/build_cache.py."""

import sys

from training.data.build_cache import main

if __name__ == "__main__":
    sys.exit(main())
