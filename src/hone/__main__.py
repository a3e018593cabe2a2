"""`python -m hone` is the `hone` command."""

from hone.cli import main

main()
