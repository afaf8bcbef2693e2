"""`python -m coachbox` is the same as the `coachbox` command."""

from coachbox.cli.main import main

raise SystemExit(main())
