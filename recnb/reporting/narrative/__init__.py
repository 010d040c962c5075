"""Plain-language text computed from the numbers, one module per stage.

- :mod:`recnb.reporting.narrative.data`: stage 01 (data understanding);
- :mod:`recnb.reporting.narrative.prep`: stage 02 (cleaning, signal, k-core, split, features);
- :mod:`recnb.reporting.narrative.models`: stage 03 (winner, significance, segments, cost,
  tuning, reference tables);
- :mod:`recnb.reporting.narrative.fairness`: stage 04 (groups served worse, exposure, sellers,
  mitigation cost, explanation fidelity);
- :mod:`recnb.reporting.narrative.experiments`: stage 05 (design, decision, SRM, monitoring,
  calibration, interleaving, off-policy evaluation, offline-online agreement);
- :mod:`recnb.reporting.narrative.monitoring`: stage 07 (false alarms, the drill, retraining, the
  champion/challenger gate).
"""
