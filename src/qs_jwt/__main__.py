"""``python -m qs_jwt``: the command-line tool."""

from qs_jwt.cli import main

raise SystemExit(main())
