"""`python -m hbsite`: the `hbsite` command."""

import sys

from hbsite.cli import main

sys.exit(main())
