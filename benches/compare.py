"""Side-by-side of `ser bench` and `benches/torch_reference.py`: interleaved rounds on the same
machine and thread count, each figure's median over the rounds, and the ratio (a dev tool).

    cargo build --release
    python3 benches/compare.py --threads 2 --rounds 5 [--ser target/release/ser]

Prints a Markdown table; each round's raw JSON goes to stderr. Ratios are "how many times
faster ser is": PyTorch's time / ser's time, or ser's rate / librosa's rate.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
# key, label, True when larger is better
FIGURES = [
    ("train_step_ms", "training step, batch 256 (ms)", False),
    ("lstm_fwd_bwd_ms_t13", "BiLSTM fwd+bwd, batch 256, T = 13 (ms)", False),
    ("lstm_fwd_bwd_ms_t30", "BiLSTM fwd+bwd, batch 256, T = 30 (ms)", False),
    ("features_clips_per_s", "features, 3 s clips per second", True),
    ("train_step_gflops", "training step GFLOP/s", True),
]


def run_json(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    print(out, file=sys.stderr)
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ser", default=str(HERE.parent / "target" / "release" / "ser"))
    args = parser.parse_args()
    ser, torch = [], []
    for _ in range(args.rounds):
        ser.append(run_json([args.ser, "bench", "--json", "--threads", str(args.threads)]))
        torch.append(run_json([sys.executable, str(HERE / "torch_reference.py"), "--threads", str(args.threads)]))
    print(f"{args.rounds} interleaved rounds, {args.threads} threads, medians (min .. max)\n")
    print("| figure | ser | PyTorch / librosa | ser faster by |")
    print("|---|---:|---:|---:|")
    for key, label, larger_is_better in FIGURES:
        ours, theirs = [r[key] for r in ser], [r[key] for r in torch]
        a, b = statistics.median(ours), statistics.median(theirs)
        ratio = a / b if larger_is_better else b / a
        cell = lambda m, v: f"{m:.1f} ({min(v):.1f} .. {max(v):.1f})"
        print(f"| {label} | {cell(a, ours)} | {cell(b, theirs)} | {ratio:.2f}x |")
    print(f"\npeak estimate: {ser[0]['peak_gflops']:.0f} GFLOP/s ({ser[0]['peak_estimate']})")


if __name__ == "__main__":
    main()
