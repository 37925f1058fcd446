"""`python -m bot.emulator --root DIR ...`: the same as `hublint emulator --root DIR ...`."""

import sys

from bot.cli import main

sys.exit(main(["emulator", *sys.argv[1:]]))
