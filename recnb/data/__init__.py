"""The data model and its sources (the lowest layer: imports nothing else of recnb).

- :mod:`recnb.data.schema`: the three tables (customers, products, events), :class:`Dataset`,
  their validation, and the dataset folder format (:func:`save_dataset`, :func:`load_dataset`);
- :mod:`recnb.data.interactions`: :class:`Interactions`, the customer x product matrix with id maps
  and side features that models train on and metrics evaluate against;
- :mod:`recnb.data.io`: atomic file writes (temporary name, then rename) and file fingerprints;
- :mod:`recnb.data.explore`: the descriptive tables of a dataset (stage 01);
- :mod:`recnb.data.loaders`: real sources mapped into the data model;
- :mod:`recnb.data.synthetic`: the embedded synthetic shop with its ground truth.
"""
