"""Benchmarking against competing scATAC-seq embedding methods.

* :mod:`cellspace.bench.methods`: registry of methods (one module each) and ``run_method``;
* :mod:`cellspace.bench.metrics`: scib-style biological conservation and batch metrics;
* :mod:`cellspace.bench.evaluation`: the embeddings of several runs collected, the cells evaluated;
* :mod:`cellspace.bench.bootstrap`: bootstrap CIs, CI-inversion p-values, BH-FDR;
* :mod:`cellspace.bench.bootstrap_io` / :mod:`cellspace.bench.plots`: chunk files, reports,
  figures.

The pipeline's benchmark steps (run, score, bootstrap, merge) are in :mod:`cellspace.steps`.
"""
