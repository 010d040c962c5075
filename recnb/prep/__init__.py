"""Preprocessing: from a scrubbed dataset to the split the models read (imports only recnb.data).

- :mod:`recnb.prep.settings`: :class:`PrepSettings`, every preprocessing setting with its default
  and allowed values (stage 02's params section derives from it);
- :mod:`recnb.prep.cleaning`: unknown references, returns, duplicates, the bot rule;
- :mod:`recnb.prep.weighting`: event weights, recency, confidences, rating normalization;
- :mod:`recnb.prep.kcore`: the iterative k-core filter and the density table;
- :mod:`recnb.prep.features`: customer, product and context features;
- :mod:`recnb.prep.split`: labels per split kind, the Microsoft-compatible stratified split,
  assembly (:func:`build_split`), leakage checks and the saved split artefact.
"""
