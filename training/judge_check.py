"""`python -m training.judge_check`: the command lives in training/evaluation/judge_check.py."""

import sys

from training.evaluation.judge_check import main

if __name__ == "__main__":
    sys.exit(main())
