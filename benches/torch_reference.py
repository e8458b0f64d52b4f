"""PyTorch / librosa reference timings for `ser bench`: the same workloads, the same JSON keys.

Run (a dev tool, not part of the build):

    pip install torch librosa==0.11.0      # or torch from https://download.pytorch.org/whl/cpu
    python benches/torch_reference.py --threads 2 > torch.json
    cargo run --release -- bench --json --threads 2 > ser.json

Workloads, as src/bench.rs defines them: a training step of the study's model (Conv1d 162->60 k5
s2, MaxPool 5/1, Conv1d 60->40 k3 s2, MaxPool 5/1, BiLSTM 40->80x2, max+mean over time,
BatchNorm1d(320), Linear 320-60-50-8 with Dropout 0.25, Adam, clip_grad_norm 1.0) on 256 clips of
uniform(60, 150) frames zero-padded to the longest; a BiLSTM forward+backward at batch 256, T = 13
and T = 30; the notebook's librosa features of a 3 s clip at 16 kHz. Every time is the median of
15 runs (features: 9, each of one clip here and of 50 in ser) after 3 untimed warm-up runs, as
ser bench times them. The FLOP count is ser's formula (src/bench.rs), so GFLOP/s compare.
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch import nn

BATCH, LSTM_INPUT, LSTM_HIDDEN, CLIP_SAMPLES = 256, 40, 80, 48_000


WARM_UP = 3  # untimed calls first, as ser bench makes: the steady state of a training run


def median_seconds(runs, f):
    for _ in range(WARM_UP):
        f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class StudyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.MFCC_feature_extraction = nn.Sequential(
            nn.Conv1d(162, 60, 5, 2), nn.MaxPool1d(5, 1), nn.Conv1d(60, 40, 3, 2), nn.MaxPool1d(5, 1)
        )
        self.lstm = nn.LSTM(LSTM_INPUT, LSTM_HIDDEN, batch_first=True, bidirectional=True)
        self.classify = nn.Sequential(
            nn.BatchNorm1d(320), nn.Linear(320, 60), nn.Dropout(0.25), nn.ReLU(),
            nn.Linear(60, 50), nn.Dropout(0.25), nn.ReLU(), nn.Linear(50, 8),
        )

    def forward(self, x):
        h = self.MFCC_feature_extraction(x).transpose(1, 2)
        h, _ = self.lstm(h)
        h = torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=1)
        return self.classify(h)


def training_step_flops(batch, frames):
    """The same count as ser::bench::training_step_flops."""
    t1 = (frames - 5) // 2 + 1
    t2 = (t1 - 4 - 3) // 2 + 1
    t = t2 - 4
    conv1 = 2 * batch * 60 * 162 * 5 * t1 * 2
    conv2 = 2 * batch * 40 * 60 * 3 * t2 * 3
    lstm = 2 * 3 * 2 * batch * t * 4 * LSTM_HIDDEN * (LSTM_INPUT + LSTM_HIDDEN)
    head = 2 * batch * (320 * 60 + 60 * 50 + 50 * 8) * 3
    return conv1 + conv2 + lstm + head


def bench_training(rng):
    lengths = rng.integers(60, 151, BATCH)
    x = np.zeros((BATCH, 162, lengths.max()), dtype=np.float32)
    for b, k in enumerate(lengths):
        x[b, :, :k] = rng.uniform(-1, 1, (162, k))
    x = torch.from_numpy(x)
    labels = torch.from_numpy(rng.integers(0, 8, BATCH))
    model = StudyModel().train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimiser.zero_grad()
        loss_fn(model(x), labels).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()

    return median_seconds(15, step), x.shape[2]


def bench_lstm(steps, rng):
    lstm = nn.LSTM(LSTM_INPUT, LSTM_HIDDEN, batch_first=True, bidirectional=True)
    x = torch.from_numpy(rng.uniform(-1, 1, (BATCH, steps, LSTM_INPUT)).astype(np.float32))
    dy = torch.from_numpy(rng.uniform(-1, 1, (BATCH, steps, 2 * LSTM_HIDDEN)).astype(np.float32))

    def step():
        lstm.zero_grad()
        y, _ = lstm(x)
        y.backward(dy)

    return 1e3 * median_seconds(15, step)


def bench_features(rng):
    import librosa

    t = np.arange(CLIP_SAMPLES, dtype=np.float32) / 16_000
    f0 = 120 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    voice = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 9))
    y = (0.2 * voice + 0.01 * rng.uniform(-1, 1, CLIP_SAMPLES)).astype(np.float32)
    sr = 16_000

    def extract():
        # The notebook's rows: ZCR, chroma of |STFT|, MFCC, RMS, mel power.
        stft = np.abs(librosa.stft(y))
        np.vstack([
            librosa.feature.zero_crossing_rate(y),
            librosa.feature.chroma_stft(S=stft, sr=sr),
            librosa.feature.mfcc(y=y, sr=sr),
            librosa.feature.rms(y=y),
            librosa.feature.melspectrogram(y=y, sr=sr),
        ])

    return 1.0 / median_seconds(9, extract)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Features first, as ser bench measures them (before training has grown the heap), from
    # their own generator so the training batch stays the one it always was.
    features_clips_per_s = bench_features(np.random.default_rng(2))
    rng = np.random.default_rng(0)
    step_s, frames = bench_training(rng)
    report = {
        "threads": args.threads,
        "train_samples_per_s": BATCH / step_s,
        "train_step_ms": 1e3 * step_s,
        "lstm_fwd_bwd_ms_t13": bench_lstm(13, rng),
        "lstm_fwd_bwd_ms_t30": bench_lstm(30, rng),
        "features_clips_per_s": features_clips_per_s,
        "train_step_gflops": training_step_flops(BATCH, frames) / step_s / 1e9,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
