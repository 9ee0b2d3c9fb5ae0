"""The former model of task ``multihead``, kept so that runs saved with it still load (the task now
trains the encoder's standard sequence-classification head with every head's labels side by side,
:mod:`bert_tasks.tasks.multihead`): several softmax heads on one BERT encoder.

``BertForMultiHeadClassification``: BERT's pooled ``[CLS]`` vector -> dropout ->
one linear layer per named head; the loss is the (weighted) sum of each head's
cross-entropy. Saved and loaded with ``save_pretrained`` / ``from_pretrained``
(safetensors); the head names and label sets live in ``config.heads``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class BertForMultiHeadClassification(BertPreTrainedModel):
    """One BERT encoder, one softmax head per attribute.

    Config attributes:
        heads: ``{head name: [label names]}`` (insertion order = logit order).
        head_weights: ``{head name: weight}`` of each head's loss (default 1).

    ``forward(labels=...)`` takes labels of shape (batch, n_heads), one class id per
    head (-100 = unknown for that head), and returns the logits of all heads
    concatenated, shape (batch, sum of label-set sizes).
    """

    def __init__(self, config):
        super().__init__(config)
        heads = getattr(config, "heads", None) or {}
        if not heads:
            raise ValueError("config.heads must name at least one head: {name: [labels]}")
        self.bert = BertModel(config, add_pooling_layer=True)
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(config.hidden_size, len(labels)) for name, labels in heads.items()})
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        pooled = self.dropout(out.pooler_output)  # (batch, hidden)
        logits = [head(pooled) for head in self.heads.values()]  # each (batch, labels of the head)
        loss = None
        if labels is not None:
            weights = getattr(self.config, "head_weights", None) or {}
            loss = logits[0].new_zeros(())
            for i, (name, lg) in enumerate(zip(self.heads, logits)):
                target = labels[:, i].long()
                if (target != -100).any():  # a batch may hold no label for a head
                    ce = nn.functional.cross_entropy(lg, target, ignore_index=-100)
                    loss = loss + float(weights.get(name, 1.0)) * ce
        return SequenceClassifierOutput(loss=loss, logits=torch.cat(logits, dim=-1))
