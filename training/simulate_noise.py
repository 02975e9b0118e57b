"""`python -m training.simulate_noise`: the command lives in training/data/simulate_noise.py."""

import sys

from training.data.simulate_noise import main

if __name__ == "__main__":
    sys.exit(main())
