#!/usr/bin/env python3
"""Scores `ser listen --json` lines against the truth CSV of examples/listen_stream.rs.

    python3 benches/listen_segmentation.py truth.csv listen.jsonl [--clip-bounds]

A true utterance is found when some utterance of the output starts and ends within 250 ms of it;
an output utterance is spurious when it overlaps no true one. The emotion of a true utterance is
the one of the output utterance overlapping it most (accuracy over all true utterances, and over
the found ones). The truth is where each clip's sound is (above 2 % of its peak), or with
--clip-bounds the whole clip (for clips already trimmed to their speech, as the prepared RAVDESS
clips are). Only channel 0 is scored (the generator writes the same signal to every channel).
"""
import csv
import json
import sys

TOLERANCE = 0.25


def main(truth_path, lines_path, clip_bounds=False):
    keys = ("clip_start", "clip_end") if clip_bounds else ("start", "end")
    truth = [(float(r[keys[0]]), float(r[keys[1]]), r["emotion"]) for r in csv.DictReader(open(truth_path))]
    found = [json.loads(l) for l in open(lines_path) if l.strip()]
    found = [(u["start"], u["end"], u["emotion"]) for u in found if u["channel"] == 0]
    # The truth lists only clips completed before the end; ignore output past the last one.
    horizon = truth[-1][1] + 0.4
    found = [f for f in found if f[0] < horizon]
    overlap = lambda a, b: max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hits, correct, correct_found = 0, 0, 0
    j = 0
    for t in truth:
        while j < len(found) and found[j][1] < t[0] - 5:
            j += 1
        near = [f for f in found[j:j + 8] if overlap(f, t) > 0]
        hit = any(abs(f[0] - t[0]) <= TOLERANCE and abs(f[1] - t[1]) <= TOLERANCE for f in near)
        hits += hit
        if near:
            best = max(near, key=lambda f: overlap(f, t))
            correct += best[2] == t[2]
            correct_found += hit and best[2] == t[2]
    spurious = sum(1 for f in found if not any(overlap(f, t) > 0 for t in truth))
    n = len(truth)
    print(f"true utterances: {n}, output utterances: {len(found)}")
    print(f"found with both ends within {TOLERANCE * 1000:.0f} ms: {hits} ({100 * hits / n:.1f} %)")
    print(f"spurious (overlapping no true utterance): {spurious} ({100 * spurious / max(len(found), 1):.1f} % of the output)")
    print(f"emotion accuracy per true utterance: {100 * correct / n:.1f} % (of the found ones: {100 * correct_found / max(hits, 1):.1f} %)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--clip-bounds" in sys.argv[3:])
