"""``python -m loadgen``: the same as the ``loadgen`` command."""

from loadgen.run.cli import main

raise SystemExit(main())
