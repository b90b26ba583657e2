"""The `cohlab` command line: list, info, run, sweep, analyze, app, bench."""
