"""`python -m zre_ref.cli` runs `zre-ref`."""

import sys

from . import main

sys.exit(main())
