"""`python -m medkb.cli` runs the CLI."""

from medkb.cli import main

main()
