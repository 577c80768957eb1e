"""The content model in two parts, each exported to its own ONNX graph: a BERT message encoder
(one embedding per message) and a causal conversation model over the messages in order."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertModel

from serving.text import ROLE_IDS
from training.config import TransformerConfig


def build_encoder(config: TransformerConfig, vocab_size: int, pretrained: str | None = None) -> BertModel:
    """The pretrained encoder at `pretrained` or a tiny random one, with eager attention (the
    export needs it for ONNX Runtime's attention fusion)."""
    if config.init == "pretrained":
        if pretrained is None:
            raise ValueError("transformer.init 'pretrained' needs the folder of the pretrained weights")
        bert = BertModel.from_pretrained(pretrained, attn_implementation="eager")
        bert.pooler = None  # unused: loaded and dropped so that the checkpoint loads without a report
        return bert
    if config.init == "random":
        bert_config = BertConfig(vocab_size=vocab_size, **config.tiny.__dict__)
        bert_config._attn_implementation = "eager"
        return BertModel(bert_config, add_pooling_layer=False)
    raise ValueError(f"transformer.init must be 'pretrained' or 'random', not {config.init!r}")


class MessageEncoder(torch.nn.Module):
    """(input_ids, attention_mask) -> one embedding per message: the mean of its token states,
    the pooling all-MiniLM-L6-v2 was trained with.

    It builds the additive 4-D attention mask itself with `masked_fill` (a Where node): the
    pattern ONNX Runtime's Attention fusion recognises; transformers 5's own mask is not."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert

    @property
    def dim(self) -> int:
        return self.bert.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        keep = attention_mask[:, None, None, :].expand(-1, 1, length, -1).to(torch.float32)
        blocked = 1.0 - keep
        additive = blocked.masked_fill(blocked.to(torch.bool), torch.finfo(torch.float32).min)
        states = self.bert(input_ids=input_ids, attention_mask=additive).last_hidden_state
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ConversationModel(torch.nn.Module):
    """(embeddings, roles) -> logits (batch x messages x labels): after each message, the risk so
    far and the signals of that message. A one-way GRU reads the messages in order, so each
    output depends on that message and the ones before it only: the running score that finds
    the first alerting message, and padding after a conversation that changes nothing."""

    def __init__(self, embedding_dim: int, hidden: int, dropout: float, labels: int) -> None:
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        self.project = torch.nn.Linear(embedding_dim, hidden)
        self.role = torch.nn.Embedding(len(ROLE_IDS), hidden)
        self.gru = torch.nn.GRU(hidden, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, labels)

    def forward(self, embeddings: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        inputs = torch.nn.functional.gelu(self.project(self.dropout(embeddings)) + self.role(roles))
        states, _ = self.gru(inputs)
        return self.head(states)


CONVERSATION_WEIGHTS = "conversation_model.safetensors"
CONVERSATION_CONFIG = "conversation_model.json"


def save_content_model(folder: Path, bert: BertModel, model: ConversationModel) -> None:
    """Both parts under `folder`: the encoder as a transformers checkpoint, the conversation
    model as safetensors with the sizes that rebuild it (no pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    bert.save_pretrained(folder / "encoder")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / CONVERSATION_WEIGHTS))
    sizes = {
        "embedding_dim": model.project.in_features,
        "hidden": model.project.out_features,
        "dropout": model.dropout.p,
        "labels": model.head.out_features,
    }
    (folder / CONVERSATION_CONFIG).write_text(json.dumps(sizes, indent=2))


def load_content_model(folder: Path) -> tuple[MessageEncoder, ConversationModel]:
    """The two parts saved by `save_content_model`, in eval mode."""
    bert = BertModel.from_pretrained(folder / "encoder", attn_implementation="eager", add_pooling_layer=False)
    model = ConversationModel(**json.loads((folder / CONVERSATION_CONFIG).read_text()))
    model.load_state_dict(load_file(str(folder / CONVERSATION_WEIGHTS)))
    return MessageEncoder(bert).eval(), model.eval()
