"""Fit, recommend and score models on a split; tune on validation; compare (imports models, prep,
metrics and data, nothing above).

- :mod:`recnb.evaluation.specs`: :class:`ModelSpec` (a configured model) and :func:`model_specs`;
- :mod:`recnb.evaluation.evaluate`: :func:`evaluate_models`, the fit-recommend-score glue;
- :mod:`recnb.evaluation.segments`: cold / light / heavy and device segments of customers;
- :mod:`recnb.evaluation.cost`: peak-memory measurement of a fit or a recommendation run;
- :mod:`recnb.evaluation.tuning`: hyperparameter search on the validation split only;
- :mod:`recnb.evaluation.leaderboard`: the leaderboard, the winner-vs-rest significance table,
  and this run's rows beside a published reference table;
- :mod:`recnb.evaluation.examples`: a few customers' lists with the reasons behind them;
- :mod:`recnb.evaluation.reference`: published reference tables.
"""
