"""`python -m training.report`: the command lives in training/evaluation/report.py."""

import sys

from training.evaluation.report import main

if __name__ == "__main__":
    sys.exit(main())
