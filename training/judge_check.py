"""`python -m training.judge_check`: the command lives in training/experiments/judge_check.py."""

import sys

from training.experiments.judge_check import main

if __name__ == "__main__":
    sys.exit(main())
