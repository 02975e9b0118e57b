"""`python -m training.evaluate`: the command lives in training/evaluation/evaluate.py."""

import sys

from training.evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
