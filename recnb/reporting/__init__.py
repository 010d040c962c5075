"""What a reader sees: figures, tables, plain-language text, the HTML pages (imports evaluation and
everything below it, never the workflow).

- :mod:`recnb.reporting.formatting`: numbers, shares, durations and metric names as text;
- :mod:`recnb.reporting.tables`: report-ready views of result tables;
- :mod:`recnb.reporting.data_figures`: the figures of stages 01 and 02;
- :mod:`recnb.reporting.model_figures`: the figures of stage 03;
- :mod:`recnb.reporting.fairness_figures`, :mod:`recnb.reporting.fairness_tables`: the figures and
  table views of stage 04;
- :mod:`recnb.reporting.narrative`: the sentences each stage's report opens with, computed from
  its numbers;
- :mod:`recnb.reporting.pages`: a stage's executed notebook as code-free HTML, and the run's
  ``index.html``.
"""
