"""The heavy steps on Apache Spark, with the names and results files of the in-memory path.

Modules (each imports pyspark only when a function that needs it runs):

- :mod:`~recnb.backends.spark.session` Java and pyspark checks, the configured session;
- :mod:`~recnb.backends.spark.prep` event weights, temporal and stratified splits, bot filter and
  k-core per training part, aggregation into pairs (equal to :func:`recnb.prep.split.build_split`);
- :mod:`~recnb.backends.spark.als` Spark MLlib ALS (implicit preferences) as a registered model
  (``spark_als``) and distributed top-k with seen-item exclusion;
- :mod:`~recnb.backends.spark.metrics` the ranking and beyond-accuracy metrics of
  :mod:`recnb.metrics`, computed in Spark (equal to 1e-9).

Install the extra with ``pip install -e ".[spark]"``; a Java 17+ runtime must be on the machine.
"""
