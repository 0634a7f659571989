"""Forecasters written the way most PyTorch users write them, for mpqx's samples: built from
torch.nn.TransformerEncoder, trained by `mpqx_torch.py train --module tools/torch_models.py:CLASS` and
brought into mpqx by the importer (doc/import.md), like a user's own model."""

import math

import torch
import torch.nn as nn


class EncoderForecaster(nn.Module):
    """input linear, a sinusoidal positional buffer, nn.TransformerEncoder (LayerNorm, GELU by default,
    post-norm unless norm_first), the mean over time and a linear head: [batch, window, features] ->
    [batch, 1]."""

    def __init__(self, features=3, window=24, d_model=16, nhead=2, layers=2, ffn=64, activation="gelu",
                 norm_first=False, dropout=0.1):
        super().__init__()
        self.inp = nn.Linear(features, d_model)
        pos = torch.arange(window).float()[:, None]
        div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(window, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ffn, dropout=dropout, activation=activation,
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x):
        return self.head(self.encoder(self.inp(x) + self.pe).mean(dim=1))
