"""Accuracy of Fusion-MACE against stock MACE on the same data, splits, seeds and budget.

``grid``: the data sets, models, sizes and cells compared; ``campaign``: trains, tests
and times cells (``python -m studies.accuracy --help``); ``report``: renders the finished
cells in ``results/`` into ``results/accuracy.md``.
"""
