"""`python -m cohlab`: the same as the `cohlab` program."""

from cohlab.launch import run

run()
