"""`python -m training.key_claim`: the command lives in training/experiments/key_claim.py."""

import sys

from training.experiments.key_claim import main

if __name__ == "__main__":
    sys.exit(main())
