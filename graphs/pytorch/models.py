"""The catalogue's architectures in plain torch.nn, and their factories.

Each factory takes `batch` (and a few size knobs) and returns a dict
`{"model", "inputs", "targets", "loss"}`, the form `graphs extract MODULE:FACTORY` reads
(see graphs/pytorch/factory.py). The batch is random: data values do not change the graph.
Definitions follow the published architectures (ResNet, He et al. 2016; MobileNetV2,
Sandler et al. 2018; U-Net, Ronneberger et al. 2015 with batch norm and padded
convolutions; GPT-2 small, Radford et al. 2019; ViT-B/16, Dosovitskiy et al. 2021; a Llama-style decoder,
Touvron et al. 2023, in Llama 3 8B's shape); attention is written out (scores, softmax,
dropout, weighted sum), as on a CPU without a fused kernel, so the score tensors appear in the
graph, except in the Llama-style decoder: at sequence 4096 nobody materialises the scores, so it
calls the fused `scaled_dot_product_attention` (one node forward, one backward).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

# ---- ResNet ------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int], classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        stages = []
        for i, blocks in enumerate(layers):
            width = 64 * 2**i
            stage = []
            for b in range(blocks):
                stage.append(block(cin, width, 2 if (b == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---- MobileNetV2 -------------------------------------------------------------------------


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv_bn(cin, hidden, 1, 1)]
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, 1, act=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    # (expansion, channels, repeats, stride), from the paper's Table 2
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers = [_conv_bn(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(self.dropout(x))


# ---- U-Net -------------------------------------------------------------------------------


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        )


class UNet(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 2, base: int = 64, depth: int = 4) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(
            [DoubleConv(channels, widths[0])] + [DoubleConv(widths[i], widths[i + 1]) for i in range(depth)]
        )
        self.pool = nn.MaxPool2d(2)
        self.upconv = nn.ModuleList(
            [nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))]
        )
        self.up = nn.ModuleList([DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for upconv, block in zip(self.upconv, self.up):
            x = block(torch.cat([skips.pop(), upconv(x)], dim=1))
        return self.head(x)


# ---- Transformers ------------------------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, causal_len: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(dropout)
        self.resid_drop = nn.Dropout(dropout)
        if causal_len is not None:
            self.register_buffer(
                "mask", torch.ones(causal_len, causal_len, dtype=torch.bool).tril().logical_not(), persistent=False
            )
        else:
            self.mask = None

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        if self.mask is not None:
            scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        att = self.attn_drop(torch.softmax(scores, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float, approximate: str = "none") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate=approximate)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.act(self.fc1(x))))


class Block(nn.Module):
    def __init__(
        self, dim: int, heads: int, dropout: float, causal_len: int | None, approximate: str, eps: float
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.attn = SelfAttention(dim, heads, dropout, causal_len)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, 4 * dim, dropout, approximate)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A GPT-2-style decoder: token + position embeddings, pre-norm causal blocks, tied head."""

    def __init__(
        self,
        vocab: int = 50304,
        seq: int = 512,
        dim: int = 768,
        layers: int = 12,
        heads: int = 12,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(seq, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(dim, heads, dropout, seq, "tanh", 1e-5) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as GPT-2
        for module in self.modules():  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t, device=idx.device)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class ViT(nn.Module):
    """ViT: 16x16 patch embedding (a strided convolution), class token, pre-norm blocks, linear head."""

    def __init__(
        self,
        image: int = 224,
        patch: int = 16,
        dim: int = 768,
        layers: int = 12,
        heads: int = 12,
        classes: int = 1000,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(dim, heads, dropout, None, "none", 1e-6) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.drop(x + self.pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x[:, 0]))


# ---- Llama-style decoder -----------------------------------------------------------------


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (no mean subtraction, no bias), computed in float32 as Llama does."""

    def __init__(self, dim: int, eps: float = 1e-5, dtype=None) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype))

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.type_as(x)


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    """Grouped-query attention with rotary position embeddings: `kv_heads` key/value heads, each shared by
    `heads // kv_heads` query heads (repeated before the fused causal attention)."""

    def __init__(self, dim: int, heads: int, kv_heads: int, dtype=None) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, heads * self.head_dim, bias=False, dtype=dtype)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False, dtype=dtype)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False, dtype=dtype)
        self.o_proj = nn.Linear(heads * self.head_dim, dim, bias=False, dtype=dtype)

    def _repeat_kv(self, x):
        b, h, t, d = x.shape
        rep = self.heads // self.kv_heads
        return x[:, :, None].expand(b, h, rep, t, d).reshape(b, h * rep, t, d)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        y = F.scaled_dot_product_attention(q, self._repeat_kv(k), self._repeat_kv(v), is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class SwiGLU(nn.Module):
    """Llama's MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int, dtype=None) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False, dtype=dtype)
        self.up_proj = nn.Linear(dim, hidden, bias=False, dtype=dtype)
        self.down_proj = nn.Linear(hidden, dim, bias=False, dtype=dtype)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int, eps: float, dtype=None) -> None:
        super().__init__()
        self.input_norm = RMSNorm(dim, eps, dtype)
        self.attn = LlamaAttention(dim, heads, kv_heads, dtype)
        self.post_attention_norm = RMSNorm(dim, eps, dtype)
        self.mlp = SwiGLU(dim, hidden, dtype)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.input_norm(x), cos, sin)
        return x + self.mlp(self.post_attention_norm(x))


class Llama(nn.Module):
    """A Llama-style decoder: token embedding, pre-norm blocks (RMSNorm, rotary grouped-query attention,
    SwiGLU), final RMSNorm, untied head; no biases, no dropout."""

    def __init__(
        self,
        vocab: int = 128256,
        seq: int = 4096,
        dim: int = 4096,
        layers: int = 32,
        heads: int = 32,
        kv_heads: int = 8,
        hidden: int = 14336,
        rope_theta: float = 500000.0,
        eps: float = 1e-5,
        dtype=None,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim, dtype=dtype)
        self.blocks = nn.ModuleList([LlamaBlock(dim, heads, kv_heads, hidden, eps, dtype) for _ in range(layers)])
        self.norm = RMSNorm(dim, eps, dtype)
        self.head = nn.Linear(dim, vocab, bias=False, dtype=dtype)
        head_dim = dim // heads
        inv_freq = 1.0 / rope_theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)  # (seq, head_dim), the halves _rotate_half pairs
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx)
        cos, sin = self.cos[:t].to(x.dtype), self.sin[:t].to(x.dtype)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(self.norm(x))


class TinyMLP(nn.Module):
    """Two linear layers and a ReLU: small enough to check the extracted graph by hand."""

    def __init__(self, dim: int = 8, hidden: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class SmallNet(nn.Module):
    """A small CNN + MLP with batch norm, dropout and a residual link: the execution tests' model."""

    def __init__(self, width: int = 16, classes: int = 10, dropout: float = 0.25) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(width * 8 * 8, 64)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = h + torch.tanh(self.conv2(h))
        h = self.pool(h).flatten(1)
        return self.fc2(self.drop(torch.relu(self.fc1(h))))


# ---- factories ---------------------------------------------------------------------------


def _classification(model: nn.Module, batch: int, shape: tuple[int, ...], classes: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "model": model,
        "inputs": (torch.randn(batch, *shape, generator=g),),
        "targets": (torch.randint(0, classes, (batch,), generator=g),),
        "loss": F.cross_entropy,
    }


def _seed() -> None:
    torch.manual_seed(0)  # parameters initialised identically at every call (extract and execute)


def resnet18(batch: int = 32, image: int = 224):
    _seed()
    return _classification(ResNet(BasicBlock, [2, 2, 2, 2]), batch, (3, image, image), 1000)


def resnet50(batch: int = 32, image: int = 224):
    _seed()
    return _classification(ResNet(Bottleneck, [3, 4, 6, 3]), batch, (3, image, image), 1000)


def mobilenet_v2(batch: int = 32, image: int = 224):
    _seed()
    return _classification(MobileNetV2(), batch, (3, image, image), 1000)


def vit_b16(batch: int = 16, image: int = 224):
    _seed()
    return _classification(ViT(image=image), batch, (3, image, image), 1000)


def _lm_loss(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def gpt(batch: int = 4, seq: int = 512, layers: int = 12, dim: int = 768, heads: int = 12, vocab: int = 50304):
    _seed()
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (batch, seq + 1), generator=g)
    return {
        "model": GPT(vocab, seq, dim, layers, heads),
        "inputs": (tokens[:, :-1].contiguous(),),
        "targets": (tokens[:, 1:].contiguous(),),
        "loss": _lm_loss,
    }


_FLOAT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _lm_loss_fp32(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


def llama(
    batch: int = 1,
    seq: int = 4096,
    layers: int = 32,
    dim: int = 4096,
    heads: int = 32,
    kv_heads: int = 8,
    hidden: int = 14336,
    vocab: int = 128256,
    dtype: str = "bfloat16",
):
    """Llama 3 8B's shape by default (8.0 B parameters): bfloat16 parameters and activations, the loss
    in float32 (the logits upcast, as Llama's reference training code does)."""
    _seed()
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, vocab, (batch, seq + 1), generator=g)
    return {
        "model": Llama(vocab, seq, dim, layers, heads, kv_heads, hidden, dtype=_FLOAT_DTYPES[dtype]),
        "inputs": (tokens[:, :-1].contiguous(),),
        "targets": (tokens[:, 1:].contiguous(),),
        "loss": _lm_loss_fp32,
    }


def unet(batch: int = 8, image: int = 256, classes: int = 2):
    _seed()
    g = torch.Generator().manual_seed(0)
    return {
        "model": UNet(3, classes),
        "inputs": (torch.randn(batch, 3, image, image, generator=g),),
        "targets": (torch.randint(0, classes, (batch, image, image), generator=g),),
        "loss": F.cross_entropy,
    }


def tiny_mlp(batch: int = 2):
    """The hand-checked model of the tests: 8 -> 16 -> ReLU -> 4, mean squared error."""
    _seed()
    g = torch.Generator().manual_seed(0)
    return {
        "model": TinyMLP(),
        "inputs": (torch.randn(batch, 8, generator=g),),
        "targets": (torch.randn(batch, 4, generator=g),),
        "loss": F.mse_loss,
    }


def small_net(batch: int = 8):
    _seed()
    return _classification(SmallNet(), batch, (3, 16, 16), 10)


def small_gpt(batch: int = 2, seq: int = 32):
    """A 2-layer, width-64 GPT: attention, layer norm, dropout and weight tying, quickly."""
    return gpt(batch=batch, seq=seq, layers=2, dim=64, heads=4, vocab=256)


def small_llama(batch: int = 1, seq: int = 32, layers: int = 2, dtype: str = "float32"):
    """A 2-layer, width-64 Llama-style decoder (4 query heads, 2 key/value heads): the same ops, quickly."""
    return llama(batch=batch, seq=seq, layers=layers, dim=64, heads=4, kv_heads=2, hidden=172, vocab=256, dtype=dtype)
