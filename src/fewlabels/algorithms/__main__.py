"""`python -m fewlabels.algorithms` prints the docs' table of the registered methods."""

from fewlabels.algorithms import methods_table

print(methods_table())
