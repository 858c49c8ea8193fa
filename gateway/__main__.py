"""`python -m gateway` runs the `lpd-ipp-gateway` command."""

import sys

from gateway.cli import main

sys.exit(main())
