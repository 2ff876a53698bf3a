"""dropbatch benchmarks: each measures one part of the pipeline against a baseline on the
local stack, in the same run, and prints one JSON object on stdout (progress on stderr).

    python -m bench                 all four, in order
    python -m bench.submit          one of them (submit, worker_csv, unzip, reconcile)

See bench/README.md for what each measures and the latest figures.
"""
