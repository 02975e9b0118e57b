"""`python -m training.train_pvae`: the command lives in training/train/train_pvae.py."""

import sys

from training.train.train_pvae import main

if __name__ == "__main__":
    sys.exit(main())
