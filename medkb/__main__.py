"""`python -m medkb` runs the CLI."""

from medkb.cli import main

main()
