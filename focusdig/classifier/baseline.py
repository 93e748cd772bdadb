"""The strongest simple baseline: TF-IDF word 1-2-grams + char_wb 2-5-grams, logistic regression.

Every model figure is reported beside it, trained on the same training split with C chosen on
the validation split. It is also a member of the distillation teacher ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, Pipeline

from focusdig.classifier.data import LABELS

C_GRID = (1.0, 3.0, 10.0, 30.0)


def linear_baseline(c: float = 10.0) -> Pipeline:
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True
                ),
            ),
        ]
    )
    clf = LogisticRegression(C=c, max_iter=3000)
    return Pipeline([("features", features), ("clf", clf)])


def fit_baseline(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    grid: Sequence[float] = C_GRID,
    refit_with_val: bool = False,
) -> tuple[Pipeline, dict[float, float]]:
    """Fit one pipeline per C, keep the best on validation macro-F1 -> (pipeline, {C: F1}).

    ``refit_with_val``: the final fit, as a model trained with ``train_on_val`` gets: the chosen
    C fit again on the training and validation texts together."""
    scores, best = {}, None
    for c in grid:
        model = linear_baseline(c).fit(list(train_texts), list(train_labels))
        scores[c] = float(
            f1_score(list(val_labels), model.predict(list(val_texts)), average="macro")
        )
        if best is None or scores[c] > scores[best[0]]:
            best = (c, model)
    if refit_with_val:
        texts, labels = [*train_texts, *val_texts], [*train_labels, *val_labels]
        return linear_baseline(best[0]).fit(texts, labels), scores
    return best[1], scores


def baseline_proba(model: Pipeline, texts: Sequence[str]) -> np.ndarray:
    """Probabilities (N, 3) in the order of LABELS."""
    proba = model.predict_proba(list(texts))
    order = [list(model.classes_).index(label) for label in LABELS]
    return proba[:, order]
