"""Evaluation: the paper's protocols as functions (:mod:`.protocols`) over a shared runner (:mod:`.runner`: the
encoder and dataset evaluated, the splits, the result records), and the engines under them: frozen features
(:mod:`.feature_cache`), kNN, the linear head, L2 logistic regression (:mod:`.logreg`), image-trained sweeps
(:mod:`.sweep` over :mod:`.classifier`)."""
