import sys

from rrm_eval.cli import main

sys.exit(main())
