"""Analysis: metrics, fitting, export of runs and sweeps, plots."""
