"""Runs: params and typed settings, the runner, what a stage notebook sees (the top layer).

- :mod:`recnb.workflow.params`: load and validate ``params/<name>.yaml``;
- :mod:`recnb.workflow.settings`: the typed settings of every stage's params section;
- :mod:`recnb.workflow.run_data`: the run's dataset (built from its source, privacy-scrubbed,
  cached in the run folder) and its fingerprint;
- :mod:`recnb.workflow.stage`: :class:`StageContext`, a stage notebook's handle on the run;
- :mod:`recnb.workflow.provenance`: input fingerprints and stale stages;
- :mod:`recnb.workflow.progress`: progress lines of a long stage;
- :mod:`recnb.workflow.runner`: run the stage notebooks with papermill, write the run folder;
- :mod:`recnb.workflow.compare`: compare two run folders byte for byte;
- :mod:`recnb.workflow.cli`: ``python -m recnb``.
"""
