"""fastText classifiers: language identification, toxicity, and training/evaluation of your own.

- :mod:`curate.classify.fasttext_model`: loading (offline, once per process), batch prediction,
  preprocessing (whitespace, lowercase, repeated characters, Hangul jamo, spacing) and sidecars;
- :mod:`curate.classify.scripts`: writing-system profiles of texts (vectorized);
- :mod:`curate.classify.langid`: the ``lang_id`` step's judgement (script rules, priors, chunks);
- :mod:`curate.classify.train`: ``curate classifier train`` / ``eval`` (metrics, deterministic training).

The models that ship with curate are in ``curate/models/`` (README there).
"""
