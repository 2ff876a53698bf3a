"""The soak: thousands of files dropped in waves onto a whole local stack, reporting what was
lost, duplicated or wrong, trigger latency per wave and each server's memory over time.

    python -m devstack.soak --files 10000 --wave 500 --interval 150

Long (about an hour at 10,000 files on 2 cores): run by hand, never in CI."""
