"""Batches: a whole sequence through the per-frame pipeline as one video (:mod:`.runner`), post-processed with
the future at hand (:mod:`.offline`), run inline or as a background job (:mod:`.jobs`); videos via :mod:`.video`."""
