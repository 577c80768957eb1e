"""The content model in two parts, each exported to its own ONNX graph: a BERT message encoder
(one embedding per message) and a causal conversation model over the messages in order, which
reads each message through its similarity to the exemplar library (training/exemplars.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertModel

from serving.schema import SIGNALS
from training.config import HeadInit, TransformerConfig


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


def running_max(values: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """Running maximum along the message axis of (batch x messages x k), starting from `state`
    (batch x k). The ONNX exporter has no `cummax`: the exported graph takes the maximum under a
    lower-triangular mask instead, the same numbers at memory that grows with the square of the
    messages of one call, so the scorer calls it on segments of `runtime.segment_messages` and
    carries `state` between them. The export's parity gate compares the two."""
    started = torch.maximum(values[:, :1], state[:, None, :])
    values = torch.cat([started, values[:, 1:]], dim=1)
    if not torch.compiler.is_exporting():
        return torch.cummax(values, dim=1).values
    length = values.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=values.device).tril()
    spread = torch.where(causal[None, :, :, None], values[:, None, :, :], torch.zeros((), dtype=values.dtype))
    return spread.amax(dim=2)


class ConversationModel(torch.nn.Module):
    """(embeddings, roles, evidence) -> (logits, evidence): the exemplar head over a conversation.

    Each message is compared, by cosine similarity, with the exemplar library and with a bank of
    real benign chat lines; per signal, its best positive, near-miss, benign and bank similarity
    give that message's evidence for the signal (a logistic of the four). The evidence so far is,
    per signal and per role of sender, the running maximum over the messages. A maximum over
    many harmless messages creeps up with their number, so before the risk reads it, it is
    lowered, in logit space, by what a benign maximum over that many messages of that role would
    reach (an offset plus a slope in log(1 + messages), learned per signal). The risk so far is a
    logistic of the lowered maxima. Keeping the roles apart lets the risk weigh who makes a
    move: an adult who asks where a child lives while the child asks nothing back is not two
    peers getting to know each other.
    `logits` (batch x messages x labels) are, after each message, the risk so far and the logit
    of that message's evidence per signal, gated by its sender's role (a reporter's question is
    not an escalation move); `evidence` (batch x messages x roles * (signals + 1)) the running
    maxima, then each role's message count, whose row at a conversation's last message
    continues it in the next call.

    About a hundred parameters over similarities to a reviewed list and to real benign chat:
    nothing here can learn a phrasing the library does not already name, which is the point."""

    def __init__(
        self, exemplars: torch.Tensor, ranges: dict[str, tuple[int, int]], init: HeadInit, bank: torch.Tensor
    ) -> None:
        super().__init__()
        signals = len(SIGNALS)
        self.ranges = {k: (int(a), int(b)) for k, (a, b) in ranges.items()}
        self.init = init
        self.register_buffer("exemplars", torch.nn.functional.normalize(exemplars.float(), dim=-1))
        self.register_buffer("bank", torch.nn.functional.normalize(bank.float(), dim=-1))
        weights = [init.positive_weight, init.near_miss_weight, init.benign_weight, init.bank_weight]
        self.similarity_weights = torch.nn.Parameter(torch.tensor([weights] * signals))
        self.signal_bias = torch.nn.Parameter(torch.full((signals,), init.signal_bias))
        self.length_offset = torch.nn.Parameter(torch.full((signals,), init.length_offset))
        self.length_slope = torch.nn.Parameter(torch.full((signals,), init.length_slope))
        self.role_gates = torch.nn.Parameter(torch.tensor(init.role_gates))
        self.risk_weights = torch.nn.Parameter(torch.tensor([[w] * signals for w in init.role_risk_weights]))
        self.risk_bias = torch.nn.Parameter(torch.tensor(init.risk_bias))

    @property
    def evidence_width(self) -> int:
        roles, signals = self.risk_weights.shape
        return roles * (signals + 1)

    def similarities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(... x dim) -> (... x signals x 4): per signal, the best cosine similarity with its
        positive and its near-miss exemplars, with the benign lines and with the benign bank."""
        unit = torch.nn.functional.normalize(embeddings, dim=-1)
        cosine = unit @ self.exemplars.T
        best = lambda key: cosine[..., self.ranges[key][0] : self.ranges[key][1]].amax(dim=-1)  # noqa: E731
        benign = best("benign")
        bank = (unit @ self.bank.T).amax(dim=-1)
        return torch.stack(
            [torch.stack([best(f"{s}/positive"), best(f"{s}/near_miss"), benign, bank], dim=-1) for s in SIGNALS],
            dim=-2,
        )

    def forward(
        self, embeddings: torch.Tensor, roles: torch.Tensor, evidence: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if evidence is None:
            evidence = torch.zeros((embeddings.shape[0], self.evidence_width), dtype=embeddings.dtype)
        role_count, signals = self.risk_weights.shape
        maxima = role_count * signals
        signal = (self.similarities(embeddings) * self.similarity_weights).sum(dim=-1) + self.signal_bias
        gate = self.role_gates[roles].unsqueeze(-1).expand_as(signal)
        # logit(sigmoid(signal) * sigmoid(gate)), exactly and without overflow.
        message_logit = -torch.logsumexp(torch.stack([-signal, -gate, -signal - gate], dim=-1), dim=-1)
        sender = torch.nn.functional.one_hot(roles, role_count).to(signal.dtype)
        by_role = (sender.unsqueeze(-1) * torch.sigmoid(signal).unsqueeze(-2)).flatten(-2)
        so_far = running_max(by_role, evidence[:, :maxima])
        counts = torch.cumsum(sender, dim=1) + evidence[:, None, maxima:]
        strongest = torch.logit(so_far.unflatten(-1, (role_count, signals)).clamp(1e-6, 1 - 1e-6))
        expected = self.length_offset + self.length_slope * torch.log1p(counts).unsqueeze(-1)
        heard = (counts > 0).to(signal.dtype).unsqueeze(-1)  # a role that has not spoken has no evidence
        lowered = (torch.sigmoid(strongest - expected) * heard).flatten(-2)
        risk = lowered @ self.risk_weights.flatten() + self.risk_bias
        return torch.cat([risk.unsqueeze(-1), message_logit], dim=-1), torch.cat([so_far, counts], dim=-1)


CONVERSATION_WEIGHTS = "conversation_model.safetensors"
CONVERSATION_CONFIG = "conversation_model.json"


def save_content_model(folder: Path, bert: BertModel, model: ConversationModel) -> None:
    """Both parts under `folder`: the encoder as a transformers checkpoint, the conversation
    model (exemplar and bank embeddings included) as safetensors with what rebuilds it (no pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    bert.save_pretrained(folder / "encoder")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / CONVERSATION_WEIGHTS))
    config = {
        "exemplars": list(model.exemplars.shape),
        "bank": list(model.bank.shape),
        "ranges": model.ranges,
        "init": asdict(model.init),
    }
    (folder / CONVERSATION_CONFIG).write_text(json.dumps(config, indent=2))


def saved_bank(folder: Path) -> np.ndarray:
    """The benign bank of the content model saved under `folder`."""
    return load_file(str(folder / CONVERSATION_WEIGHTS))["bank"].numpy()


def load_content_model(folder: Path) -> tuple[MessageEncoder, ConversationModel]:
    """The two parts saved by `save_content_model`, in eval mode."""
    bert = BertModel.from_pretrained(folder / "encoder", attn_implementation="eager", add_pooling_layer=False)
    config = json.loads((folder / CONVERSATION_CONFIG).read_text())
    raw = config["init"]
    init = HeadInit(
        **{**raw, "role_gates": tuple(raw["role_gates"]), "role_risk_weights": tuple(raw["role_risk_weights"])}
    )
    model = ConversationModel(torch.zeros(config["exemplars"]), config["ranges"], init, torch.zeros(config["bank"]))
    model.load_state_dict(load_file(str(folder / CONVERSATION_WEIGHTS)))
    return MessageEncoder(bert).eval(), model.eval()
