"""python -m demo: the same as python demo/run.py."""

import sys

from demo.run import main

sys.exit(main())
