"""A re-creation of the reference implementation's float forecaster (TinyTransformer4TS, models/fp32/,
MIT licence), written for mpqx's importer tests from its published structure, with its module names:
input_linear, a positional-encoding module holding a [1, W, d] buffer `pe`, encoder.encoder_layers.N with
mha.linear_q/k/v, mha.inner_attn (einsum attention, scale 1/sqrt(d/h), dropout), mha.output_layer, mha_norm
and ffn_norm (BatchNorm1d on a permuted tensor), ffn.fc1/fc2, then pooling_layer (AdaptiveAvgPool1d) and
output_linear.  As in the original, the Encoder hands the *original* input to every layer, so only the
last layer reaches the output.  The class takes **kwargs like the original."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_window_size):
        super().__init__()
        position = torch.arange(0, max_window_size).float().unsqueeze(1)
        div_term = (torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model)).exp()
        pe = torch.zeros(max_window_size, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))  # [1, W, d]

    def forward(self, len_input):
        return self.pe[:, :len_input]


class ScaledDotProductAttention(nn.Module):
    def __init__(self, nhead, d_model):
        super().__init__()
        self.scale = 1.0 / math.sqrt(d_model // nhead)
        self.dropout = nn.Dropout(p=0.2)

    def forward(self, q, k, v):
        scores = torch.einsum("blhe,bshe->bhls", q, k)
        attn = self.dropout(torch.softmax(self.scale * scores, dim=-1))
        context = torch.einsum("bhls,bshd->blhd", attn, v)
        return context.contiguous(), attn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, nhead):
        super().__init__()
        self.nhead = nhead
        self.linear_q = nn.Linear(d_model, d_model)
        self.linear_k = nn.Linear(d_model, d_model)
        self.linear_v = nn.Linear(d_model, d_model)
        self.inner_attn = ScaledDotProductAttention(d_model=d_model, nhead=nhead)
        self.output_layer = nn.Linear(d_model, d_model)

    def forward(self, q, k, v):
        B, L, H = q.shape[0], q.shape[1], self.nhead
        q = self.linear_q(q).view(B, L, H, -1)
        k = self.linear_k(k).view(B, L, H, -1)
        v = self.linear_v(v).view(B, L, H, -1)
        context, attn = self.inner_attn(q, k, v)
        context = context.view(B, L, -1)
        return self.output_layer(context), attn


class FeedForwardNetwork(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_model * 4)
        self.fc2 = nn.Linear(d_model * 4, d_model)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, window_size, d_model, nhead):
        super().__init__()
        self.window_size = window_size
        self.mha = MultiHeadAttention(d_model, nhead)
        self.mha_norm = nn.BatchNorm1d(d_model)
        self.ffn = FeedForwardNetwork(d_model)
        self.ffn_norm = nn.BatchNorm1d(d_model)

    def forward(self, inputs):
        mha_out, attn = self.mha(inputs, inputs, inputs)
        x = inputs + mha_out
        x = self.mha_norm(x.permute(0, 2, 1)).permute(0, 2, 1)
        x2 = x + self.ffn(x)
        x2 = self.ffn_norm(x2.permute(0, 2, 1)).permute(0, 2, 1)
        return x2, attn


class Encoder(nn.Module):
    def __init__(self, num_layers, window_size, d_model, nhead):
        super().__init__()
        self.encoder_layers = nn.ModuleList(
            [EncoderLayer(window_size, d_model, nhead) for _ in range(num_layers)])

    def forward(self, input):
        attn_weights = []
        for layer in self.encoder_layers:
            output, attn = layer(input)  # every layer sees the original input, as in the original
            attn_weights.append(attn)
        return output


class FloatTransformer(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        d_model = kwargs.get("d_model")
        self.window_size = kwargs.get("window_size")
        self.input_linear = nn.Linear(kwargs.get("num_in_features"), d_model)
        self.position_encoding = PositionalEncoding(d_model=d_model, max_window_size=self.window_size)
        self.encoder = Encoder(window_size=self.window_size, d_model=d_model, nhead=kwargs.get("nhead"),
                               num_layers=kwargs.get("num_enc_layers"))
        self.pooling_layer = nn.AdaptiveAvgPool1d(1)
        self.output_linear = nn.Linear(d_model, kwargs.get("num_out_features"))

    def forward(self, inputs):
        inputs = self.input_linear(inputs)
        pos_info = self.position_encoding(self.window_size)
        outputs = self.encoder(inputs + pos_info)
        outputs = self.pooling_layer(outputs.permute(0, 2, 1)).squeeze(2)
        return self.output_linear(outputs)
