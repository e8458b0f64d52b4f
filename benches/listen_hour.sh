#!/usr/bin/env bash
# `ser listen` on one hour (and optionally ten hours) of 48 kHz stereo 16-bit audio: clips joined
# by pauses of 0.4-2 s under background noise at 20 dB SNR (examples/listen_stream.rs), scored for
# speed, memory and segmentation (benches/listen_segmentation.py).
#
#   benches/listen_hour.sh WEIGHTS [CLIPS_DIR] [--ten-hours]
#
# CLIPS_DIR: a RAVDESS-named folder (its seed-0 pool test part is used, the clips a checkpoint
# trained with `--layout pool --seed 0` never saw); without it, ser's synthetic sentences.
# The hour is written to $TMPDIR first, so the timing is of ser alone; the ten-hour run is
# generated straight into standard input (6.9 GB never stored) and measures peak memory only.
set -euo pipefail
weights=$1
clips=${2:-}
tmp=${TMPDIR:-/tmp}
cargo build --release --quiet --example listen_stream
cargo build --release --quiet
gen=target/release/examples/listen_stream
ser=target/release/ser
source_args=()
if [[ -n "$clips" && "$clips" != --* ]]; then source_args=(--clips "$clips" --part test); fi

echo "== one hour, 48 kHz stereo s16le WAV file"
"$gen" "${source_args[@]}" --seconds 3600 --rate 48000 --channels 2 --truth "$tmp/listen-hour-truth.csv" > "$tmp/listen-hour.wav"
/usr/bin/time -v "$ser" listen --weights "$weights" --json "$tmp/listen-hour.wav" > "$tmp/listen-hour.jsonl" 2> "$tmp/listen-hour.time"
grep -E "Elapsed|Maximum resident|User time|System time" "$tmp/listen-hour.time"
python3 benches/listen_segmentation.py "$tmp/listen-hour-truth.csv" "$tmp/listen-hour.jsonl"

echo "== the same hour on standard input as a stream, each answer as soon as it closes"
/usr/bin/time -v "$ser" listen --weights "$weights" --json --timing - < "$tmp/listen-hour.wav" > /dev/null 2> "$tmp/listen-hour-stream.time"
grep -E "Elapsed|Maximum resident|latency" "$tmp/listen-hour-stream.time"

echo "== one minute on standard input (memory baseline)"
"$gen" "${source_args[@]}" --seconds 60 --rate 48000 --channels 2 | /usr/bin/time -v "$ser" listen --weights "$weights" --json - 2>&1 >/dev/null | grep "Maximum resident"

if [[ " $* " == *" --ten-hours "* ]]; then
  echo "== ten hours generated into standard input"
  "$gen" "${source_args[@]}" --seconds 36000 --rate 48000 --channels 2 | /usr/bin/time -v "$ser" listen --weights "$weights" --json - 2>&1 >/dev/null | grep -E "Maximum resident|Elapsed|utterances"
fi
rm -f "$tmp/listen-hour.wav"
