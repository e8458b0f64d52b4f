#!/usr/bin/env python3
"""Generate the feature goldens that `tests/features_librosa.rs` checks ser against.

How to run (from the repository root; needs Python 3 with librosa 0.11.0, numpy, soundfile):

    python3 scripts/make_feature_goldens.py

What it writes:

1. `fixtures/audio/<name>.wav`: short deterministic 16 kHz mono clips, 16-bit PCM:
   - `tone440`:     1.0 s, 440 Hz sine at amplitude 0.5
   - `chirp`:       1.5 s, linear chirp 100 -> 4000 Hz at amplitude 0.5
   - `noise`:       1.0 s, white Gaussian noise (numpy seed 1234), std 0.2, clipped to [-1, 1)
   - `tone_noise`:  1.2 s, 0.25 s of digital silence, then a 330 Hz sine (0.4) plus noise (seed 99, std 0.05)
2. `fixtures/features/<name>.npz`: librosa's features for each clip, float64 arrays named
   `zcr` (1, K), `chroma` (12, K), `mfcc` (20, K), `rms` (1, K), `mel` (128, K) and `tuning`
   (a 0-d array: the estimate_tuning value chroma_stft used), K = 1 + len/512.

The features are computed the way the study's notebook does it, on the WAV read back with
`librosa.load(path, sr=None)`, so librosa sees exactly the quantised samples ser reads:

    zcr    = librosa.feature.zero_crossing_rate(y)
    chroma = librosa.feature.chroma_stft(S=np.abs(librosa.stft(y)), sr=sr)
    mfcc   = librosa.feature.mfcc(y=y, sr=sr)
    rms    = librosa.feature.rms(y=y)
    mel    = librosa.feature.melspectrogram(y=y, sr=sr)

Rerunning it must reproduce the files bit for bit on the same librosa/numpy versions.
"""
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

SR = 16000
ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "fixtures" / "audio"
FEATURES = ROOT / "fixtures" / "features"


def clips():
    t = lambda secs: np.arange(int(round(secs * SR))) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t(1.0))

    tc = t(1.5)
    f0, f1, dur = 100.0, 4000.0, 1.5
    chirp = 0.5 * np.sin(2 * np.pi * (f0 * tc + 0.5 * (f1 - f0) / dur * tc**2))

    noise = np.clip(np.random.default_rng(1234).normal(0.0, 0.2, int(1.0 * SR)), -1.0, 0.99)

    n_sil = int(0.25 * SR)
    tm = t(1.2)[: int(1.2 * SR) - n_sil]
    mix = 0.4 * np.sin(2 * np.pi * 330.0 * tm) + np.random.default_rng(99).normal(0.0, 0.05, tm.size)
    tone_noise = np.concatenate([np.zeros(n_sil), mix])

    return {"tone440": tone, "chirp": chirp, "noise": noise, "tone_noise": tone_noise}


def features(y, sr):
    return {
        "zcr": librosa.feature.zero_crossing_rate(y),
        "chroma": librosa.feature.chroma_stft(S=np.abs(librosa.stft(y)), sr=sr),
        "mfcc": librosa.feature.mfcc(y=y, sr=sr),
        "rms": librosa.feature.rms(y=y),
        "mel": librosa.feature.melspectrogram(y=y, sr=sr),
        "tuning": np.array(librosa.estimate_tuning(S=np.abs(librosa.stft(y)), sr=sr)),
    }


def main():
    assert librosa.__version__ == "0.11.0", f"goldens are pinned to librosa 0.11.0, found {librosa.__version__}"
    AUDIO.mkdir(parents=True, exist_ok=True)
    FEATURES.mkdir(parents=True, exist_ok=True)
    for name, y in clips().items():
        wav = AUDIO / f"{name}.wav"
        sf.write(wav, y, SR, subtype="PCM_16")
        y16, sr = librosa.load(wav, sr=None)
        assert sr == SR
        feats = {k: np.asarray(v, dtype=np.float64) for k, v in features(y16, sr).items()}
        np.savez(FEATURES / f"{name}.npz", **feats)
        print(f"{name}: {y16.size} samples, K = {feats['mel'].shape[1]}, tuning = {float(feats['tuning']):+.2f}")


if __name__ == "__main__":
    main()
