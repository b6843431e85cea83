"""The paper's experiments, reproducible from the command line (``lode-rs reproduce ...``)."""
