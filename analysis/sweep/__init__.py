"""Batch sweeps of one scenario (SPEC 8, 9.3), in four modules that depend one way:

- :mod:`~analysis.sweep.design`: command-line flags and ready tables → a validated
  specification (:class:`scenarios.sweep_spec.SweepSpec`) → the list of runs (grid, LHS, Sobol).
- :mod:`~analysis.sweep.execute`: one run in a worker; the process pool and the Dask executor.
- :mod:`~analysis.sweep.store`: atomic per-run files, resume checks, runs.csv and timeseries.csv.
- :mod:`~analysis.sweep.run`: :func:`~analysis.sweep.run.run_sweep`, the whole flow.
"""
