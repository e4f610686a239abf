"""Writing and reading PhenoCell dataset directories."""
