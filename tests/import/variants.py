"""Small forecasters written the other ways people write attention, for mpqx's importer tests: matmul with
transpose and the scale before the product, a learned positional embedding (a parameter), torch.mean over
time, F.linear, and one model with an op mpqx does not have (cumsum), which must be refused cleanly."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MatmulAttention(nn.Module):
    """q scaled before the product, heads split with reshape + transpose, merged with transpose + reshape;
    a learned positional embedding; mean over time."""

    def __init__(self, features=3, window=16, d_model=16, heads=2):
        super().__init__()
        self.h, self.dk = heads, d_model // heads
        self.embed = nn.Linear(features, d_model)
        self.pos = nn.Parameter(torch.randn(window, d_model) * 0.1)
        self.qkv = nn.ModuleDict({k: nn.Linear(d_model, d_model) for k in "qkv"})
        self.proj = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, d_model))
        self.out = nn.Linear(d_model, 1)

    def forward(self, x):
        b, t, _ = x.shape
        x = self.embed(x) + self.pos
        q, k, v = (self.qkv[n](x).reshape(b, t, self.h, self.dk).transpose(1, 2) for n in "qkv")
        q = q / math.sqrt(self.dk)
        p = F.softmax(q @ k.transpose(-2, -1), dim=-1)
        ctx = (p @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.proj(ctx)
        x = x + self.ff(x)
        return self.out(torch.mean(x, dim=1))


class Unsupported(nn.Module):
    def __init__(self, features=3, d_model=8):
        super().__init__()
        self.inp = nn.Linear(features, d_model)
        self.out = nn.Linear(d_model, 1)

    def forward(self, x):
        h = torch.cumsum(self.inp(x), dim=1)
        return self.out(h.mean(dim=1))


class TorchEncoder(nn.Module):
    """The common way: nn.TransformerEncoder of nn.TransformerEncoderLayer (LayerNorm, relu or gelu, packed
    in_proj, post-norm or pre-norm, batch first or not, an optional final norm), a sinusoidal buffer, and
    the mean over time."""

    def __init__(self, features=3, window=16, d_model=16, nhead=2, layers=2, ffn=32, activation="gelu",
                 norm_first=False, batch_first=True, final_norm=False):
        super().__init__()
        self.batch_first = batch_first
        self.inp = nn.Linear(features, d_model)
        pos = torch.arange(window).float()[:, None]
        div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(window, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ffn, dropout=0.1, activation=activation,
                                           batch_first=batch_first, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model) if final_norm else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x):
        h = self.inp(x) + self.pe
        if not self.batch_first:
            h = h.transpose(0, 1)
        h = self.encoder(h)
        if not self.batch_first:
            h = h.transpose(0, 1)
        return self.head(h.mean(dim=1))
