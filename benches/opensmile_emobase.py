#!/usr/bin/env python3
"""openSMILE's emobase feature extraction over one WAV, timed: the side-by-side figure for
`ser listen` (docs/listen.md, "Side by side with openSMILE").

    python3 -m venv /tmp/osm && /tmp/osm/bin/pip install opensmile
    /tmp/osm/bin/python benches/opensmile_emobase.py HOUR.wav [--level lld|functionals]

The whole file goes through openSMILE's emobase configuration (the `opensmile` package runs the
native SMILExtract library in this process, one thread), --chunk-s seconds at a time (read with
soundfile, channels mixed down to one by their mean, at the file's own rate): `process_file` on
the whole hour at once was killed by the kernel at 24 GB resident on a 23 GB machine. `lld` (default) gives the 26 low-level descriptors every 10 ms, the bulk of the
work; `functionals` adds the 988 emobase statistics over the whole file. The time printed is of
the extraction alone (the interpreter and library load are outside it; `/usr/bin/time` around
the command gives both).
"""
import argparse
import sys
import time

import numpy as np
import opensmile
import soundfile as sf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav")
    parser.add_argument("--level", choices=["lld", "functionals"], default="lld")
    parser.add_argument("--chunk-s", type=float, default=60.0, help="seconds of audio per openSMILE call")
    args = parser.parse_args()
    level = opensmile.FeatureLevel.LowLevelDescriptors if args.level == "lld" else opensmile.FeatureLevel.Functionals
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.emobase, feature_level=level)
    rate = sf.info(args.wav).samplerate
    rows, columns, audio_s = 0, 0, 0.0
    start = time.perf_counter()
    for block in sf.blocks(args.wav, blocksize=int(args.chunk_s * rate), dtype="float32", always_2d=True):
        mono = block.mean(axis=1, dtype=np.float32)
        features = smile.process_signal(mono, rate)
        rows += features.shape[0]
        columns = features.shape[1]
        audio_s += len(mono) / rate
    seconds = time.perf_counter() - start
    print(
        f"emobase {args.level}: {audio_s:.0f} s of audio at {rate} Hz, {rows} rows x {columns} features"
        f" in {seconds:.2f} s ({audio_s / seconds:.0f}x real time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
