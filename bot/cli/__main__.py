import sys

from hublint.cli import main

sys.exit(main())
