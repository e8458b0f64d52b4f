"""Reference numbers for tests/parity_pytorch_training.rs: three training steps of the study's
no-dropout model in PyTorch, float64, from one seeded initialisation and one batch.

Run (a dev tool, not part of the build):

    pip install torch safetensors numpy
    python scripts/make_torch_training_steps.py

Writes, under fixtures/torch/:
  initial_weights.safetensors  the initial state_dict as PyTorch names it, float32 (ser loads it
                               with its own checkpoint loader). The weights are PyTorch's default
                               initialisation from torch.manual_seed(SEED); BatchNorm's weight,
                               bias and running statistics are moved off 1/0 so that loading them
                               is tested too.
  training_steps.safetensors   float64 except the input and labels:
    input (B, 162, K)          the batch, float32 (as ser's features are); clips shorter
                               than K are zero-padded and the model runs over the padding (the
                               study's padding)
    labels (B)                 int64
    logits (B, 8), loss (3)    logits of step 1, the mean cross-entropy of steps 1-3
    grad_norm (3)              the global gradient norm of steps 1-3, before clipping
    grad.NAME                  every parameter's gradient at step 1, before clipping
    step3.NAME                 every parameter and BatchNorm running statistic after 3 steps

A step is the trainer's: train mode, mean softmax cross-entropy, backward, clip_grad_norm_(1.0),
Adam(lr=1e-3) with PyTorch's defaults (betas 0.9/0.999, eps 1e-8, no weight decay). The model
runs in float64 (model.double()) from the float32 initial weights, so the comparison is not
limited by float32 rounding.
"""

import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

SEED = 20250
BATCH, ROWS, FRAMES = 5, 162, 60
# Valid frames of each clip: the shorter ones are zero-padded to FRAMES.
LENGTHS = [60, 60, 55, 48, 41]
STEPS = 3


class StudyModelNoDropout(nn.Module):
    """The study's ablation twin: benches/torch_reference.py's model without the Dropout layers,
    so nn.Sequential numbers the head 0, 1, 3, 5."""

    def __init__(self):
        super().__init__()
        self.MFCC_feature_extraction = nn.Sequential(
            nn.Conv1d(162, 60, 5, 2), nn.MaxPool1d(5, 1), nn.Conv1d(60, 40, 3, 2), nn.MaxPool1d(5, 1)
        )
        self.lstm = nn.LSTM(40, 80, batch_first=True, bidirectional=True)
        self.classify = nn.Sequential(
            nn.BatchNorm1d(320), nn.Linear(320, 60), nn.ReLU(), nn.Linear(60, 50), nn.ReLU(), nn.Linear(50, 8)
        )

    def forward(self, x):
        h = self.MFCC_feature_extraction(x).transpose(1, 2)
        h, _ = self.lstm(h)
        h = torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=1)
        return self.classify(h)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "torch")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(SEED)
    model = StudyModelNoDropout()
    with torch.no_grad():
        bn = model.classify[0]
        bn.weight.copy_(1 + 0.2 * torch.randn(320))
        bn.bias.copy_(0.1 * torch.randn(320))
        bn.running_mean.copy_(0.05 * torch.randn(320))
        bn.running_var.copy_(0.5 + torch.rand(320))
    initial = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(initial, os.path.join(out, "initial_weights.safetensors"))

    rng = np.random.default_rng(SEED)
    x = np.zeros((BATCH, ROWS, FRAMES), dtype=np.float32)
    for b, k in enumerate(LENGTHS):
        x[b, :, :k] = rng.standard_normal((ROWS, k)).astype(np.float32)
    labels = rng.integers(0, 8, BATCH)

    model = model.double().train()
    x64 = torch.from_numpy(x).double()
    y = torch.from_numpy(labels).long()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    saved = {"input": torch.from_numpy(x), "labels": y.clone()}
    losses, norms = [], []
    for step in range(STEPS):
        optimiser.zero_grad()
        logits = model(x64)
        loss = loss_fn(logits, y)
        loss.backward()
        if step == 0:
            saved["logits"] = logits.detach().clone()
            for name, p in model.named_parameters():
                saved[f"grad.{name}"] = p.grad.detach().clone()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        losses.append(loss.item())
        optimiser.step()
    saved["loss"] = torch.tensor(losses, dtype=torch.float64)
    saved["grad_norm"] = torch.tensor(norms, dtype=torch.float64)
    for name, v in model.state_dict().items():
        if v.is_floating_point():
            saved[f"step3.{name}"] = v.detach().clone()
    saved = {k: v.contiguous() for k, v in saved.items()}
    save_file(saved, os.path.join(out, "training_steps.safetensors"), metadata={"torch": torch.__version__})
    print(f"torch {torch.__version__}: losses {losses}, gradient norms {norms}", file=sys.stderr)


if __name__ == "__main__":
    main()
