"""Chapter 5's run settings (:data:`SETTINGS`), in their own module so that :mod:`molpractice.rigor` (which
re-exports them) and :mod:`molpractice.rigor_calibration` both read them without importing each other."""
from __future__ import annotations

from .runtime import RunSettings

SETTINGS = RunSettings(
    full=dict(timing_sizes=(1000, 2000, 4000, 8000, 16000, 32000, 64000), brute_max_n=4000, timing_repeats=3,
              ci_boot=2000,
              leakage_thresholds=(0.2, 0.4, 0.6, 0.8), rf_trees=100, ci_threshold=0.4,
              n_outcomes=200, power_reps=1000, size_reps=10000, ts_reps=200, ts_boot=1000, looks=12, looks_reps=20000),
    fast=dict(timing_sizes=(1000, 2000, 4000, 8000), brute_max_n=2000, timing_repeats=2,
              ci_boot=500,
              leakage_thresholds=(0.3, 0.6, 0.8), rf_trees=20, ci_threshold=0.4,
              n_outcomes=200, power_reps=200, size_reps=2000, ts_reps=40, ts_boot=300, looks=12, looks_reps=4000),
    doc=dict(timing_sizes="input sizes n of the timing tables (each 2× the previous)",
             brute_max_n="largest n the brute-force versions are timed on",
             timing_repeats="runs per size; the fastest is reported",
             ci_boot="bootstrap replicates of the intervals on real errors",
             leakage_thresholds="Butina distance cutoffs (1 − Tanimoto) of the leakage curve",
             rf_trees="trees of the leakage curve's random forest",
             ci_threshold="Butina cutoff defining near-duplicate groups for error intervals",
             n_outcomes="outcomes per month in the calibration questions",
             power_reps="simulated months per miscalibration (power of the calibration test)",
             size_reps="simulated calibrated months for the size of the calibration test (cheap: no bootstrap)",
             ts_reps="simulated months per true temperature (temperature-scaling decision)",
             ts_boot="paired-bootstrap replicates of the NLL difference",
             looks="monthly looks in the multiple-looks simulation",
             looks_reps="simulated years of monthly looks"),
)
