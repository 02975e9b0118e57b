"""`python -m training.report`: the command lives in training/experiments/report.py."""

import sys

from training.experiments.report import main

if __name__ == "__main__":
    sys.exit(main())
