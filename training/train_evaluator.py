"""`python -m training.train_evaluator`: the command lives in training/train/train_evaluator.py."""

import sys

from training.train.train_evaluator import main

if __name__ == "__main__":
    sys.exit(main())
