"""`python -m training.prepare_multi`: the command lives in training/data/prepare_multi.py."""

import sys

from training.data.prepare_multi import main

if __name__ == "__main__":
    sys.exit(main())
