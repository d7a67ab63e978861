"""One module per paper: each paper's core mechanism, small enough to read in its notebook, and tested."""
