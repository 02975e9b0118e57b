"""`python -m training.train_ropar`: the command lives in training/train/train_ropar.py."""

import sys

from training.train.train_ropar import main

if __name__ == "__main__":
    sys.exit(main())
