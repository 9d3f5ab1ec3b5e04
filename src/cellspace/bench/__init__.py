"""Benchmarking against competing scATAC-seq embedding methods.

* :mod:`cellspace.bench.methods`: registry of methods (one module each) and ``run_method``;
* :mod:`cellspace.bench.metrics`: scib-style biological conservation and batch metrics;
* :mod:`cellspace.bench.bootstrap`: bootstrap CIs, CI-inversion p-values, BH-FDR;
* :mod:`cellspace.bench.bootstrap_io` / :mod:`cellspace.bench.plots`: chunk files, reports,
  figures.
"""
