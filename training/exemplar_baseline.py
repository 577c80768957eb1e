"""`exemplar_zero_shot`: the exemplar library and the pretrained encoder with no training at all.
A conversation's score is the mean, over the nine signals, of the best cosine similarity between
that signal's positive exemplars and any message of the reported party. It is the bar every
trained content model must clear: what training adds is the difference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from serving.text import ROLE_IDS
from training.model import ConversationModel

POSITIVE = 0  # the column of ConversationModel.similarities that holds the positive exemplars


@torch.no_grad()
def zero_shot_scores(
    model: ConversationModel, embeddings: Sequence[np.ndarray], roles: Sequence[Sequence[int]]
) -> np.ndarray:
    """The zero-shot score of each conversation (0 for one without a message of the reported
    party); only `model`'s exemplar embeddings are used, none of its trained weights."""
    scores = np.zeros(len(embeddings))
    for index, (vectors, sender_roles) in enumerate(zip(embeddings, roles, strict=True)):
        reported = np.asarray(sender_roles) == ROLE_IDS["reported"]
        if reported.any():
            positive = model.similarities(torch.from_numpy(vectors[reported]))[..., POSITIVE]
            scores[index] = float(positive.amax(dim=0).mean())
    return scores
