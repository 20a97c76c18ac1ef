"""Statistics of encoding scores: permutation tests, bootstrap, model comparisons, FDR, sites.

Recipe for one (subject, alignment) with responses ``Y`` (n_events, n_electrodes * n_bins,
electrode-major), purged ``folds = contiguous_folds(n_events, times=t, gap_s=4.2)`` and, per
model, ``engine = CVEngine(X, folds)`` and ``res = engine.fit(Y)``. Everything chosen from the
data is chosen on the validation halves; every reported score and test uses the test halves::

    from mmsites.encoding.folds import fold_segments
    from mmsites.stats import resampling, signal, bootstrap, sites

    # drawn once per (subject, alignment) and shared by every model; row 0 the identity
    perms = (resampling.block_permutations(n, P, block=B, seed=s0)                  # refit
             if mode == "refit" else resampling.fold_permutations(folds, n, P, block=B,
                                                                  seed=s0, part="both"))
    test_null, val_null = signal.signal_null(mode, Y, perms, folds=folds,
                                             predictions=res.predictions, engine=engine)
    seq = signal.SequentialPvalues(res.val_r, h=10)   # or in chunks, dropping settled targets
    seq.update(val_null)
    sig = signal.signal_bins("permutation", pvalues=seq.pvalues())   # selection: validation
    boot = resampling.bootstrap_indices(n, B_boot, seed=s1, block=B,
                                        segments=fold_segments(folds, n))
    t_boot, v_boot = bootstrap.bootstrap_scores(mode, Y, boot, folds=folds,
                                                predictions=res.predictions, engine=engine)
    swaps = resampling.block_swaps(n, 10_000, block=B, seed=s2)
    scores = sites.ModelScores(res.test_r, sig, res.val_r, predictions=res.predictions,
                               test_r_boot=t_boot)

then ``sites.build_comparisons`` over all :class:`mmsites.stats.sites.Unit` objects (paired
tests on the test halves; p-values below the swap floor from a generalized Pareto tail,
:mod:`mmsites.stats.pvalues`), ``sites.build_sites`` (intersection–union site p-values, one
BH per alignment), ``sites.summarize`` and ``sites.demo_recovery``. Permutation and bootstrap
rows can be split into chunks (:func:`mmsites.stats.resampling.chunks`) and run by
``mmsites.pipeline.executors``; concatenated chunks equal the whole. The statistics are
explained in ``docs/statistics.md``.
"""

from mmsites import require_namespace

require_namespace(__name__)
