"""`python -m webapp.cli` runs the `pulse` command."""

from webapp.cli import main

main()
