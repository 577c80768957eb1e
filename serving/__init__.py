"""The grooming-risk runtime: validate reports, tokenise their messages, score them with a verified ONNX bundle.

Depends on onnxruntime, tokenizers, numpy and pyarrow only; never on torch.
"""

from serving.bundle import Bundle, BundleError, load_bundle
from serving.schema import LABELS, SIGNALS, Conversation, RecordError, parse_record
from serving.scorer import ConversationScore, Scorer

__all__ = [
    "LABELS",
    "SIGNALS",
    "Bundle",
    "BundleError",
    "Conversation",
    "ConversationScore",
    "RecordError",
    "Scorer",
    "load_bundle",
    "parse_record",
]
