"""Analysis of trackerbench result directories."""
