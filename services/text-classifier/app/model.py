"""The intent model at serving time: TF-IDF features and a linear classifier, from JSON.

The model is stored as plain JSON (vocabulary, IDF weights, coefficients), not
a pickle, so loading an artifact can never execute code. Inference is a few
NumPy operations that reproduce scikit-learn's ``TfidfVectorizer`` (word 1-2
grams, sublinear TF, L2 norm) and multinomial ``LogisticRegression``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = "model.json"
# scikit-learn's default token pattern: words of two or more characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def ngrams(text: str, low: int = 1, high: int = 2) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    grams: list[str] = []
    for size in range(low, high + 1):
        grams.extend(" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1))
    return grams


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class IntentModel:
    name: str
    version: str
    labels: list[str]
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    held_out_accuracy: float

    def features(self, texts: list[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), len(self.vocabulary)))
        for row, text in enumerate(texts):
            for gram, count in Counter(ngrams(text)).items():
                column = self.vocabulary.get(gram)
                if column is not None:
                    matrix[row, column] = (1.0 + math.log(count)) * self.idf[column]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        normalized: np.ndarray = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return normalized

    def probabilities(self, texts: list[str]) -> np.ndarray:
        scores = self.features(texts) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exponentials = np.exp(scores)
        probabilities: np.ndarray = exponentials / exponentials.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, texts: list[str]) -> list[Prediction]:
        probabilities = self.probabilities(texts)
        best = probabilities.argmax(axis=1)
        return [Prediction(self.labels[i], round(float(probabilities[row, i]), 6)) for row, i in enumerate(best)]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "labels": self.labels,
            "vocabulary": self.vocabulary,
            "idf": self.idf.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "heldOutAccuracy": self.held_out_accuracy,
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        path.write_text(json.dumps(self.to_json()), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        document = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        return cls(
            name=document["name"],
            version=document["version"],
            labels=list(document["labels"]),
            vocabulary={str(k): int(v) for k, v in document["vocabulary"].items()},
            idf=np.asarray(document["idf"], dtype=float),
            coef=np.asarray(document["coef"], dtype=float),
            intercept=np.asarray(document["intercept"], dtype=float),
            held_out_accuracy=float(document["heldOutAccuracy"]),
        )
