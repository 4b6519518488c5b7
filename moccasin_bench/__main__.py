"""`python -m moccasin_bench` runs the CLI."""

import sys

from moccasin_bench.cli import main

sys.exit(main())
