"""Training, evaluation and experiments, in four layers that import downwards only:
`data` <- `evaluation` <- `train` <- `experiments` (docs/architecture.md). The top-level modules are the
`python -m training.<command>` entry points; each turns on the on-disk caption-embedding cache
(ropar_core.text_cache) before its command runs. Importing the package does nothing."""
