"""mmsites: statistics — permutation tests, bootstrap, model comparisons, FDR, site rules.

Recipe for one (subject, alignment) with responses ``Y`` (n_events, n_electrodes * n_bins,
electrode-major), ``folds = contiguous_folds(n_events)`` and, per model, ``engine =
CVEngine(X, folds)`` and ``res = engine.fit(Y)``::

    from stats import resampling, signal, bootstrap, sites

    # drawn once per (subject, alignment) and shared by every model
    boot = resampling.bootstrap_indices(n, params.bootstrap, seed=seed)
    swaps = resampling.block_swaps(n, params.permutations, block=B, seed=seed + 1)
    perms = (resampling.block_permutations(n, P, block=B, seed=seed + 2, kind=kind)  # refit
             if mode == "refit" else
             resampling.fold_permutations(folds, n, P, block=B, seed=seed + 2, kind=kind))

    null = signal.signal_null(mode, Y, perms, folds=folds, predictions=res.predictions,
                              engine=engine, block=B)                    # (P, T)
    p = (signal.max_over_bins_pvalues(res.test_r, null, n_bins) if max_stat
         else signal.permutation_pvalues(res.test_r, null))
    t_boot, v_boot = bootstrap.bootstrap_scores(mode, Y, boot, folds=folds,
                                                predictions=res.predictions, engine=engine)
    summ = bootstrap.bootstrap_summary(t_boot, v_boot)       # boot_mean, boot_lo, ...
    sig = signal.signal_bins(params.signal, pvalues=p, val_lo=summ["val_lo"])
    scores = sites.ModelScores(res.test_r, sig, predictions=res.predictions,
                               test_r_boot=t_boot)

then ``sites.build_comparisons`` over all :class:`stats.sites.Unit` objects,
``sites.build_sites``, ``sites.summarize`` and ``sites.demo_recovery``. Permutation and
bootstrap rows can be split into chunks (:func:`stats.resampling.chunks`,
:mod:`stats.work`) and run by ``pipeline.executors``; concatenated chunks equal the whole.
"""
