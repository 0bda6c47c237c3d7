"""Train the intent model from data/intents.csv: ``python -m app.train --out model/``.

Runs at image build time and in the tests. It holds out a stratified 20 % of
the examples, reports the accuracy on them, then fits the shipped model on
every example. Needs scikit-learn; the serving image does not.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from app.model import IntentModel

MODEL_NAME = "intent-tfidf-logreg"
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "data" / "intents.csv"


def read_examples(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{path}: no examples")
    return [row["text"] for row in rows], [row["label"] for row in rows]


def _fit(texts: list[str], labels: list[str]) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    classifier = LogisticRegression(C=10.0, max_iter=5000)
    classifier.fit(vectorizer.fit_transform(texts), labels)
    return vectorizer, classifier


def train(data: Path) -> IntentModel:
    texts, labels = read_examples(data)
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        texts, labels, test_size=0.2, random_state=42, stratify=labels
    )
    vectorizer, classifier = _fit(train_texts, train_labels)
    accuracy = float(classifier.score(vectorizer.transform(test_texts), test_labels))
    vectorizer, classifier = _fit(texts, labels)
    version = hashlib.sha256(data.read_bytes()).hexdigest()[:12]
    return IntentModel(
        name=MODEL_NAME,
        version=version,
        labels=[str(label) for label in classifier.classes_],
        vocabulary={str(term): int(index) for term, index in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=float),
        coef=np.asarray(classifier.coef_, dtype=float),
        intercept=np.asarray(classifier.intercept_, dtype=float),
        held_out_accuracy=round(accuracy, 4),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    model = train(args.data)
    path = model.save(args.out)
    print(
        f"trained {model.name} {model.version}: {len(model.vocabulary)} features, "
        f"{len(model.labels)} intents, held-out accuracy {model.held_out_accuracy:.1%} -> {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
