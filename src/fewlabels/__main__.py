"""`python -m fewlabels` runs the command-line tool."""

from fewlabels.cli import main

raise SystemExit(main())
