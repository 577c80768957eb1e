"""TF-IDF + logistic regression over the whole conversation: the bar the transformer must clear."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from serving.schema import Conversation
from serving.text import render_message
from training.config import BaselineConfig


def conversation_text(conversation: Conversation) -> str:
    """The conversation as one document, each message a line led by its sender's role."""
    return "\n".join(render_message(m.role, m.text) for m in conversation.messages)


class TfidfBaseline:
    """Word and bigram TF-IDF with a class-balanced logistic regression."""

    def __init__(self, config: BaselineConfig, seed: int) -> None:
        self.config = config
        self.seed = seed

    def fit(
        self, conversations: list[Conversation], labels: list[int], sample_weight: np.ndarray | None = None
    ) -> TfidfBaseline:
        c = self.config
        self.pipeline_ = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        ngram_range=(1, c.ngram_max), min_df=c.min_df, max_features=c.max_features, sublinear_tf=True
                    ),
                ),
                (
                    "classifier",
                    LogisticRegression(C=c.C, max_iter=c.max_iter, class_weight="balanced", random_state=self.seed),
                ),
            ]
        )
        self.pipeline_.fit(
            [conversation_text(x) for x in conversations], labels, classifier__sample_weight=sample_weight
        )
        return self

    def predict_proba(self, conversations: list[Conversation]) -> np.ndarray:
        return self.pipeline_.predict_proba([conversation_text(x) for x in conversations])
