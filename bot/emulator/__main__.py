"""`python -m hublint.emulator --root DIR ...`: the same as `hublint emulator --root DIR ...`."""

import sys

from hublint.cli import main

sys.exit(main(["emulator", *sys.argv[1:]]))
