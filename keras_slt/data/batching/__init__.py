"""Batches for `fit`: the epoch plan, and the tf.data and NumPy pipelines that follow it."""
