"""`python -m blobcopy` runs the command line."""

from blobcopy.cli import main

if __name__ == "__main__":
    main()
