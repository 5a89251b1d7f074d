"""`python -m parapheur` runs the command line."""

from parapheur.cli import main

main()
