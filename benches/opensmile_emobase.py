#!/usr/bin/env python3
"""openSMILE's emobase feature extraction over one WAV, timed: the side-by-side figure for
`ser listen` (docs/listen.md, "Side by side with openSMILE").

    python3 -m venv /tmp/osm && /tmp/osm/bin/pip install opensmile
    /tmp/osm/bin/python benches/opensmile_emobase.py HOUR.wav [--level lld|functionals]

The whole file goes through openSMILE's emobase configuration (the `opensmile` package runs the
native SMILExtract library in this process, one thread): channels mixed down to one, at the
file's own rate. `lld` (default) gives the 26 low-level descriptors every 10 ms, the bulk of the
work; `functionals` adds the 988 emobase statistics over the whole file. The time printed is of
the extraction alone (the interpreter and library load are outside it; `/usr/bin/time` around
the command gives both).
"""
import argparse
import sys
import time

import opensmile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav")
    parser.add_argument("--level", choices=["lld", "functionals"], default="lld")
    args = parser.parse_args()
    level = opensmile.FeatureLevel.LowLevelDescriptors if args.level == "lld" else opensmile.FeatureLevel.Functionals
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.emobase, feature_level=level, mixdown=True)
    start = time.perf_counter()
    features = smile.process_file(args.wav)
    seconds = time.perf_counter() - start
    print(f"emobase {args.level}: {features.shape[0]} rows x {features.shape[1]} features in {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
