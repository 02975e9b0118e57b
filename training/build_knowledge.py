"""`python -m training.build_knowledge`: the command lives in training/train/build_knowledge.py."""

import sys

from training.train.build_knowledge import main

if __name__ == "__main__":
    sys.exit(main())
