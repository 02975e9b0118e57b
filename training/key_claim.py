"""`python -m training.key_claim`: the command lives in training/evaluation/key_claim.py."""

import sys

from training.evaluation.key_claim import main

if __name__ == "__main__":
    sys.exit(main())
