"""The fault matrix (`make chaos`, `python -m devstack.chaos`): on the local stack, each cell
injects one fault on one hop (at the HTTP layer through the servers' fault rules, or by a
signal to a process), drops a mix of files while it is active, clears it, waits, and checks
that every file ended as it should, once, with exactly the records, summaries and alerts it
should have. See `cells` for the matrix and `checks` for what is checked."""
