import sys

from moccasin_bench.cli import main

sys.exit(main())
