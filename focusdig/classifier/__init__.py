"""Compact attention sentiment classifier (negative/neutral/positive) with word explanations.

from focusdig.classifier import Classifier
clf = Classifier.load()  # the shipped champion; or Classifier.load("models/classifier/<v>")
clf.predict(["Profit rose 50% to a record high"])[0].label  # "positive"
"""

from focusdig.classifier.artifacts import ArtifactError, load_model_dir, save_model_dir
from focusdig.classifier.model import ClassifierConfig, SentimentClassifier
from focusdig.classifier.predict import Classifier, Prediction, default_model_dir, models_root


def __getattr__(name: str):
    # lazy, so `python -m focusdig.classifier.trainer` does not import the trainer twice
    if name in ("TrainingArguments", "train_classifier"):
        from focusdig.classifier import trainer

        return getattr(trainer, name)
    raise AttributeError(name)


__all__ = [
    "ArtifactError",
    "Classifier",
    "ClassifierConfig",
    "Prediction",
    "SentimentClassifier",
    "TrainingArguments",
    "default_model_dir",
    "load_model_dir",
    "models_root",
    "save_model_dir",
    "train_classifier",
]
