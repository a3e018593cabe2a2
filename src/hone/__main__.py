"""`python -m hone` is the `hone` command."""

from hone.cli import main

if __name__ == "__main__":  # guarded: the serve worker's spawned process imports this module again
    main()
