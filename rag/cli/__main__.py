"""`python -m rag.cli`: the same as the `audiorag` command."""

import sys

from rag.cli import main

sys.exit(main())
