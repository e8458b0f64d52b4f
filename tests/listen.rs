//! `ser listen` on generated streams: the segmenter finds synthetic utterances at known times at
//! every input rate, mono and split stereo; standard input fed in irregular chunks gives the file's
//! answers; saved segments get the same answers from `ser predict`; bad input is one clear error.

use ser::audio::segment::{Segmenter, SegmenterConfig, Utterance};
use ser::audio::stream::{PcmEncoding, PcmStream, StreamResampler};
use ser::audio::vad::VAD_FRAME_LEN;
use ser::audio::{write_wav, Audio};
use ser::checkpoint;
use ser::nn::model::{ModelConfig, Padding, SerModel};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{ser, temp_dir};

fn save_model(path: &Path, padding: Padding) {
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding }, 11);
    checkpoint::save(&mut model, path, HashMap::new()).unwrap();
}

/// The default segmentation settings of `ser listen`.
fn default_segmenter() -> SegmenterConfig {
    SegmenterConfig::from_millis(1, 60, 300, 60, 300, 8000).unwrap()
}

/// A synthetic sentence at 16 kHz and where its sound starts and ends (first and last sample above
/// 2 % of its peak), in samples.
fn sentence(seed: u64, emotion: u8) -> (Vec<f32>, usize, usize) {
    let clip = ser::synth::synthesize_clip(seed, 1 + (seed % 4) as u8, emotion, 1, 1 + (seed % 2) as u8, 1);
    let peak = clip.samples.iter().fold(0f32, |m, x| m.max(x.abs()));
    let first = clip.samples.iter().position(|x| x.abs() > 0.02 * peak).unwrap();
    let last = clip.samples.iter().rposition(|x| x.abs() > 0.02 * peak).unwrap();
    (clip.samples, first, last + 1)
}

/// The next number of a xorshift64 generator (`state` must not be 0).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A deterministic noise floor (about -60 dBFS) so silence is not digital zero.
fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len).map(|_| ((xorshift(&mut state) >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.002).collect()
}

/// `count` sentences joined by pauses of 0.6 to 1.4 s at 16 kHz, with their sound's bounds in
/// seconds.
fn joined_sentences(count: usize, seed: u64) -> (Vec<f32>, Vec<(f64, f64)>) {
    let mut signal = noise(16_000 / 2, seed);
    let mut truth = Vec::new();
    for k in 0..count {
        let (clip, first, last) = sentence(seed + k as u64, (k % 8) as u8);
        let at = signal.len();
        signal.extend(clip.iter().zip(noise(clip.len(), seed + 100 + k as u64)).map(|(s, n)| s + n));
        truth.push(((at + first) as f64 / 16_000.0, (at + last) as f64 / 16_000.0));
        let pause = 9_600 + (k * 3_371 % 12_800);
        signal.extend(noise(pause, seed + 200 + k as u64));
    }
    (signal, truth)
}

/// Resamples a 16 kHz signal to `rate` in one go (the test's own input, not the code under test's path).
fn at_rate(signal: &[f32], rate: u32) -> Vec<f32> {
    ser::audio::resample(signal, 16_000, rate).unwrap()
}

/// Runs interleaved input at `rate` through the streaming resampler and one segmenter per
/// timeline, fed in irregular blocks; the utterances of each timeline as (start, end) seconds.
fn segment(interleaved: &[f32], rate: u32, channels: usize) -> Vec<Vec<(f64, f64)>> {
    let mut resampler = StreamResampler::new(rate, 16_000, channels).unwrap();
    let mut segmenters: Vec<Segmenter> = (0..channels).map(|_| Segmenter::new(default_segmenter())).collect();
    let mut found: Vec<Vec<Utterance>> = vec![Vec::new(); channels];
    let mut resampled = Vec::new();
    let feed = |resampled: &mut Vec<f32>, segmenters: &mut [Segmenter], found: &mut [Vec<Utterance>], finish: bool| {
        for (c, segmenter) in segmenters.iter_mut().enumerate() {
            let samples: Vec<f32> = resampled.iter().skip(c).step_by(channels).copied().collect();
            segmenter.push(&samples, &mut found[c]);
            if finish {
                segmenter.finish(&mut found[c]);
            }
        }
        resampled.clear();
    };
    let mut rest = interleaved;
    for size in [4_093usize, 17, 100_000, 640].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let take = (size * channels).min(rest.len());
        resampler.push(&rest[..take], &mut resampled).unwrap();
        feed(&mut resampled, &mut segmenters, &mut found, false);
        rest = &rest[take..];
    }
    resampler.finish(&mut resampled).unwrap();
    feed(&mut resampled, &mut segmenters, &mut found, true);
    found.iter().map(|us| us.iter().map(|u| (u.speech_start as f64 / 16_000.0, u.speech_end as f64 / 16_000.0)).collect()).collect()
}

/// Each true utterance is found once, both ends within 250 ms, and nothing else is found.
fn assert_matches(found: &[(f64, f64)], truth: &[(f64, f64)], what: &str) {
    assert_eq!(found.len(), truth.len(), "{what}: found {found:?}, expected {truth:?}");
    for (f, t) in found.iter().zip(truth) {
        assert!((f.0 - t.0).abs() <= 0.25 && (f.1 - t.1).abs() <= 0.25, "{what}: found {f:?} for {t:?}");
    }
}

#[test]
fn segmenter_finds_known_utterances_at_every_rate() {
    let (signal, truth) = joined_sentences(3, 7);
    for rate in [8_000, 16_000, 44_100, 48_000] {
        let found = segment(&at_rate(&signal, rate), rate, 1);
        assert_matches(&found[0], &truth, &format!("mono at {rate} Hz"));
    }
}

#[test]
fn split_stereo_gives_each_channel_its_own_timeline() {
    // Two sides of a call: each speaks while the other is quiet.
    let (left, left_truth) = joined_sentences(2, 21);
    let (right_core, right_core_truth) = joined_sentences(2, 40);
    let shift = 1.5;
    let mut right = noise((shift * 16_000.0) as usize, 5);
    right.extend(right_core);
    let right_truth: Vec<(f64, f64)> = right_core_truth.iter().map(|(a, b)| (a + shift, b + shift)).collect();
    let len = left.len().max(right.len());
    let (mut left, mut right) = (left, right);
    left.extend(noise(len - left.len(), 8));
    right.extend(noise(len - right.len(), 9));
    for rate in [8_000, 48_000] {
        let (l, r) = (at_rate(&left, rate), at_rate(&right, rate));
        let interleaved: Vec<f32> = l.iter().zip(&r).flat_map(|(a, b)| [*a, *b]).collect();
        let found = segment(&interleaved, rate, 2);
        assert_matches(&found[0], &left_truth, &format!("left at {rate} Hz"));
        assert_matches(&found[1], &right_truth, &format!("right at {rate} Hz"));
    }
}

#[test]
fn a_turn_that_never_pauses_is_cut_and_memory_stays_bounded() {
    // 60 s of sentences back to back with no pause: the segmenter must still answer, at most every
    // 8 s, holding no more than the longest utterance plus its preroll.
    let config = default_segmenter();
    let mut segmenter = Segmenter::new(config);
    let mut found = Vec::new();
    let bound = (config.max_frames + config.pad_frames + config.start_frames + 1) * 320;
    let mut largest = 0;
    let mut k = 0u64;
    let mut pushed = 0usize;
    while pushed < 60 * 16_000 {
        let (clip, first, last) = sentence(k, (k % 8) as u8);
        for block in clip[first..last].chunks(1_000) {
            segmenter.push(block, &mut found);
            largest = largest.max(segmenter.buffered_samples());
        }
        pushed += last - first;
        k += 1;
    }
    segmenter.finish(&mut found);
    assert!(largest <= bound, "held {largest} samples, bound {bound}");
    assert!(found.len() >= 60 / 8, "{} utterances in 60 s", found.len());
    assert!(found.iter().all(|u| u.samples.len() <= config.max_frames * 320), "an utterance over the longest length");
    // Cuts leave no gap and no overlap between consecutive pieces of the turn.
    for pair in found.windows(2) {
        assert!(pair[1].start >= pair[0].end(), "overlap {:?} {:?}", (pair[0].start, pair[0].end()), (pair[1].start, pair[1].end()));
    }
}

#[test]
fn silence_and_noise_alone_hold_only_the_preroll() {
    let config = default_segmenter();
    let mut segmenter = Segmenter::new(config);
    let mut found = Vec::new();
    let mut largest = 0;
    for k in 0..100 {
        segmenter.push(&noise(16_000, k), &mut found);
        largest = largest.max(segmenter.buffered_samples());
    }
    segmenter.finish(&mut found);
    assert!(found.is_empty(), "{} spurious utterances in 100 s of a noise floor", found.len());
    assert!(largest <= (config.pad_frames + config.start_frames + config.context_frames + 1) * 320, "held {largest} samples");
}

// ---- the command ----

fn s16le(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|&x| ((x.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()).collect()
}

/// `ser ARGS` with every standard stream piped.
fn spawn_ser(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ser")).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn run_with_stdin(args: &[&str], input: &[u8], chunks: &[usize]) -> (bool, i32, String, String) {
    let mut child = spawn_ser(args);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let chunks = chunks.to_vec();
    // Feed from another thread so a child writing a lot of output cannot deadlock with us.
    let writer = std::thread::spawn(move || {
        let mut rest = &input[..];
        for size in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let take = (*size).min(rest.len());
            if stdin.write_all(&rest[..take]).is_err() {
                break;
            }
            let _ = stdin.flush();
            rest = &rest[take..];
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// Two sentences at 44.1 kHz as a WAV file and as raw s16le bytes of the same samples.
fn two_sentences(dir: &Path) -> (PathBuf, Vec<u8>) {
    let (signal, _) = joined_sentences(2, 3);
    let samples = at_rate(&signal, 44_100);
    let wav = dir.join("talk.wav");
    // Round through 16-bit so the file and the raw bytes hold identical samples.
    let pcm = s16le(&samples);
    let rounded: Vec<f32> = pcm.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect();
    write_wav(&wav, &Audio { samples: rounded, sample_rate: 44_100 }).unwrap();
    (wav, pcm)
}

#[test]
fn stdin_in_irregular_chunks_gives_the_files_answers_and_segments_check_with_predict() {
    let dir = temp_dir("stdin");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let w = weights.to_str().unwrap();
    let (wav, pcm) = two_sentences(&dir);
    let segments = dir.join("segments");
    let (ok, stdout, stderr) =
        ser(&["listen", "--weights", w, "--json", "--save-segments", segments.to_str().unwrap(), wav.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let from_file = json_lines(&stdout);
    assert_eq!(from_file.len(), 2, "{stdout}");
    assert!(stderr.contains("utterances"), "the summary goes to standard error with --json: {stderr}");

    // The same bytes as a WAV stream and as raw PCM, in small irregular writes.
    let wav_bytes = std::fs::read(&wav).unwrap();
    let (ok, _, stdout_wav, stderr) = run_with_stdin(&["listen", "--weights", w, "--json", "-"], &wav_bytes, &[1, 7, 4096, 333, 2]);
    assert!(ok, "{stderr}");
    let (ok, _, stdout_raw, stderr) =
        run_with_stdin(&["listen", "--weights", w, "--json", "--raw", "s16le", "--rate", "44100", "-"], &pcm, &[3, 1000, 64_000, 5]);
    assert!(ok, "{stderr}");
    for stdout in [stdout_wav, stdout_raw] {
        let streamed = json_lines(&stdout);
        assert_eq!(streamed.len(), from_file.len(), "{stdout}");
        for (s, f) in streamed.iter().zip(&from_file) {
            assert_eq!(s["source"], "-");
            for key in ["channel", "start", "end", "emotion"] {
                assert_eq!(s[key], f[key], "{key}");
            }
            for (name, p) in s["probabilities"].as_object().unwrap() {
                let q = f["probabilities"][name].as_f64().unwrap();
                assert!((p.as_f64().unwrap() - q).abs() < 1e-5, "{name}: {p} vs {q}");
            }
        }
    }

    // Every saved segment gets the listened answer from `ser predict`.
    let mut saved: Vec<PathBuf> = std::fs::read_dir(&segments).unwrap().map(|e| e.unwrap().path()).collect();
    saved.sort();
    assert_eq!(saved.len(), from_file.len());
    let mut args = vec!["predict", "--weights", w, "--json"];
    args.extend(saved.iter().map(|p| p.to_str().unwrap()));
    let (ok, stdout, stderr) = ser(&args);
    assert!(ok, "{stderr}");
    let predicted: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    for (p, f) in predicted.iter().zip(&from_file) {
        assert_eq!(p["emotion"], f["emotion"]);
        for (name, v) in p["probabilities"].as_object().unwrap() {
            let q = f["probabilities"][name].as_f64().unwrap();
            assert!((v.as_f64().unwrap() - q).abs() < 1e-5, "{name}: predict {v} vs listen {q}");
        }
    }
}

/// Whether every tag of `svg` is closed in order (a small well-formedness check: the SVG is
/// written without comments, CDATA or processing instructions).
fn tags_balance(svg: &str) -> bool {
    let mut open: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { return false };
        let tag = &rest[i + 1..i + j];
        rest = &rest[i + j + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop().as_deref() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    open.is_empty() && !svg.contains("<<")
}

#[test]
fn split_channels_csv_and_a_well_formed_timeline() {
    let dir = temp_dir("split");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Study);
    let (left, _) = joined_sentences(1, 50);
    let mut right = noise(left.len() / 2, 1);
    right.extend(joined_sentences(1, 60).0);
    right.truncate(left.len());
    let mut left = left;
    left.resize(right.len(), 0.0);
    let interleaved: Vec<f32> = left.iter().zip(&right).flat_map(|(a, b)| [*a, *b]).collect();
    let pcm: Vec<u8> = interleaved.iter().flat_map(|x| x.to_le_bytes()).collect();
    let svg = dir.join("t.svg");
    let args = [
        "listen",
        "--weights",
        weights.to_str().unwrap(),
        "--csv",
        "--raw",
        "f32le",
        "--rate",
        "16000",
        "--channels",
        "2",
        "--channels",
        "split",
        "--svg",
        svg.to_str().unwrap(),
        "-",
    ];
    let (ok, _, stdout, stderr) = run_with_stdin(&args, &pcm, &[65_536]);
    assert!(ok, "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert!(rows[0].starts_with("source,channel,start,end,emotion,confidence,"), "{stdout}");
    let channels: Vec<&str> = rows[1..].iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    assert!(channels.contains(&"0") && channels.contains(&"1"), "{stdout}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(tags_balance(&svg), "{svg}");
    assert!(svg.contains(">ch1<"));
    assert_eq!(svg.matches("<rect x=").count() - 2 - 8, rows.len() - 1, "one rect per utterance beside the two bands and the legend");
}

#[test]
fn a_stream_cut_mid_sample_prints_what_it_heard_then_one_error() {
    let dir = temp_dir("cut");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let (_, pcm) = two_sentences(&dir);
    let cut = &pcm[..pcm.len() - 1];
    let (ok, code, stdout, stderr) =
        run_with_stdin(&["listen", "--weights", weights.to_str().unwrap(), "--raw", "s16le", "--rate", "44100", "-"], cut, &[10_000]);
    assert!(!ok && code == 1, "{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.contains(" s: ")).count(), 2, "{stdout}");
    assert_eq!(stderr.trim(), "error: standard input: the stream ends mid-sample (1 bytes of a 2-byte frame)");

    // A WAV stream that stops inside its header.
    let wav = std::fs::read(dir.join("talk.wav")).unwrap();
    let (ok, _, _, stderr) = run_with_stdin(&["listen", "--weights", weights.to_str().unwrap(), "-"], &wav[..30], &[30]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "error: standard input: truncated WAV header");

    // A WAV file whose data chunk promises more than it holds.
    let short = dir.join("short.wav");
    std::fs::write(&short, &wav[..wav.len() - 1000]).unwrap();
    let (ok, stdout, stderr) = ser(&["listen", "--weights", weights.to_str().unwrap(), short.to_str().unwrap()]);
    assert!(!ok && stdout.contains(" s: "), "{stdout}");
    assert!(stderr.starts_with(&format!("error: {}: truncated: the header declares", short.display())), "{stderr}");
}

#[test]
fn unsupported_encodings_arbitrary_bytes_and_bad_checkpoints_are_named() {
    let dir = temp_dir("bad");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let w = weights.to_str().unwrap();

    // mu-law on standard input.
    let mut mulaw = b"RIFF\0\0\0\0WAVEfmt \x12\0\0\0".to_vec();
    mulaw.extend(7u16.to_le_bytes()); // WAVE_FORMAT_MULAW
    mulaw.extend(1u16.to_le_bytes());
    mulaw.extend(8000u32.to_le_bytes());
    mulaw.extend(8000u32.to_le_bytes());
    mulaw.extend(1u16.to_le_bytes());
    mulaw.extend(8u16.to_le_bytes());
    mulaw.extend(0u16.to_le_bytes());
    mulaw.extend(b"data\x10\0\0\0");
    mulaw.extend([0x7f; 16]);
    let (ok, _, _, stderr) = run_with_stdin(&["listen", "--weights", w, "-"], &mulaw, &[5]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "error: standard input: 8-bit mu-law is not a supported encoding");

    // Arbitrary bytes as raw PCM: answers or one error, never a panic.
    let mut state = 0x1234_5678_9abc_def1u64;
    let bytes: Vec<u8> = (0..200_003).map(|_| (xorshift(&mut state) >> 56) as u8).collect();
    for format in ["s16le", "f32le"] {
        let (_, code, _, stderr) =
            run_with_stdin(&["listen", "--weights", w, "--raw", format, "--rate", "8000", "--channels", "3", "-"], &bytes, &[4097]);
        assert!(code == 0 || code == 1, "{format}: exit {code}: {stderr}");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        if code == 1 {
            // One error naming the source, after the warning that 8 kHz is narrower than the model's band.
            let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("warning: standard input, sampled at 8000 Hz")).collect();
            assert!(errors.len() == 1 && errors[0].starts_with("error: standard input: "), "{format}: {stderr}");
        }
    }

    // Not a WAV, and a bad checkpoint.
    let (ok, _, _, stderr) = run_with_stdin(&["listen", "--weights", w, "-"], b"hello, this is not audio", &[3]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "error: standard input: not a WAV file (no RIFF/WAVE header)");
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint").unwrap();
    let (ok, _, stderr) = ser(&["listen", "--weights", bad.to_str().unwrap(), "-"]);
    assert!(!ok && stderr.contains(&bad.display().to_string()), "{stderr}");
    let (ok, _, stderr) = ser(&["listen", "--weights", w, "--raw", "s16le", "-"]);
    assert!(!ok && stderr.contains("--raw needs --rate"), "{stderr}");
}

/// Without the `mic` feature `--mic` is one error saying how to build it (with the feature, on
/// a machine with a microphone, it would listen until Ctrl-C, so this runs only without it).
#[cfg(not(feature = "mic"))]
#[test]
fn mic_without_the_feature_says_how_to_build_it() {
    let dir = temp_dir("mic");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let w = weights.to_str().unwrap();
    let (ok, _, stderr) = ser(&["listen", "--weights", w, "--mic"]);
    assert!(!ok, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: --mic needs ser built with the `mic` feature: `cargo build --release --features mic`"), "{stderr}");
    // The microphone is the one input.
    let (ok, _, stderr) = ser(&["listen", "--weights", w, "--mic", "x.wav"]);
    assert!(!ok && stderr.contains("'--mic' cannot be used with"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_closes_the_open_utterance_and_answers_it() {
    let dir = temp_dir("ctrlc");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let (clip, _, _) = sentence(1, 4);
    let mut child = spawn_ser(&["listen", "--weights", weights.to_str().unwrap(), "--raw", "s16le", "--rate", "16000", "-"]);
    // Speech with no pause after it, and the pipe left open: only the interrupt can close it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&s16le(&noise(8_000, 1))).unwrap();
    stdin.write_all(&s16le(&clip)).unwrap();
    stdin.flush().unwrap();
    // Wait until the child has read everything: it then blocks in read, where the signal finds it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    // SAFETY: kill only sends a signal to the child we started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.contains(" s: ")).count(), 1, "{stdout}");
}

#[test]
fn raw_streams_decode_like_the_wav_reader() {
    // The library path: a raw stream's blocks and the WAV reader give the same samples.
    let dir = temp_dir("decode");
    let (wav, pcm) = two_sentences(&dir);
    let whole = ser::audio::read_wav(&wav).unwrap();
    let mut stream = PcmStream::raw(&pcm[..], "bytes", PcmEncoding::S16Le, 44_100, 1).unwrap();
    let mut samples = Vec::new();
    while stream.read_frames(&mut samples).unwrap() > 0 {}
    assert_eq!(samples, whole.samples);
    let mut from_wav = PcmStream::wav(std::fs::File::open(&wav).unwrap(), "file").unwrap();
    let mut samples = Vec::new();
    while from_wav.read_frames(&mut samples).unwrap() > 0 {}
    assert_eq!(samples, whole.samples);
}

/// Uniform noise on [-a, a] from a xorshift generator.
fn uniform_noise(len: usize, a: f32, state: &mut u64) -> Vec<f32> {
    (0..len).map(|_| ((xorshift(state) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a).collect()
}

/// Synthetic sentences joined by 0.8-1.6 s pauses under white noise at 20 dB SNR, and where
/// each one's sound is (first and last sample above 2 % of its peak), in samples.
fn noisy_sentences(count: u64) -> (Vec<f32>, Vec<(u64, u64)>) {
    let clips: Vec<Vec<f32>> =
        (0..count).map(|k| ser::synth::synthesize_clip(k, 1 + (k % 4) as u8, (k % 8) as u8, 1, 1 + (k % 2) as u8, 1).samples).collect();
    let speech_rms = (clips.iter().flatten().map(|x| x * x).sum::<f32>() / clips.iter().map(Vec::len).sum::<usize>() as f32).sqrt();
    let a = speech_rms / 10.0 * 3f32.sqrt();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut signal = uniform_noise(16_000, a, &mut state);
    let mut truth = Vec::new();
    for (k, clip) in clips.iter().enumerate() {
        let peak = clip.iter().fold(0f32, |m, x| m.max(x.abs()));
        let first = clip.iter().position(|x| x.abs() > 0.02 * peak).unwrap();
        let last = clip.iter().rposition(|x| x.abs() > 0.02 * peak).unwrap() + 1;
        let at = signal.len();
        let n = uniform_noise(clip.len(), a, &mut state);
        signal.extend(clip.iter().zip(n).map(|(s, n)| s + n));
        truth.push(((at + first) as u64, (at + last) as u64));
        signal.extend(uniform_noise(12_800 + k * 4_111 % 12_800, a, &mut state));
    }
    (signal, truth)
}

/// Each utterance's start and reported (refined) end, in samples.
fn segment_bounds(signal: &[f32], config: SegmenterConfig) -> Vec<(u64, u64)> {
    let mut segmenter = Segmenter::new(config);
    let mut out = Vec::new();
    for chunk in signal.chunks(1_000) {
        segmenter.push(chunk, &mut out);
    }
    segmenter.finish(&mut out);
    out.iter().map(|u| (u.speech_start, u.speech_end)).collect()
}

#[test]
fn refined_ends_sit_closer_to_the_sound_under_noise() {
    let (signal, truth) = noisy_sentences(8);
    let config = SegmenterConfig::from_millis(1, 60, 300, 100, 300, 8000).unwrap();
    let refined = segment_bounds(&signal, config);
    let vad_only = segment_bounds(&signal, config.with_edge(0.0, 0, 0));
    assert_eq!(refined.len(), truth.len(), "{refined:?} against {truth:?}");
    assert_eq!(vad_only.len(), truth.len());
    let ms = |a: u64, b: u64| (a as f64 - b as f64).abs() / 16.0;
    let (mut refined_error, mut vad_error) = (0.0, 0.0);
    for ((r, v), t) in refined.iter().zip(&vad_only).zip(&truth) {
        assert!(ms(r.0, t.0) <= 250.0 && ms(r.1, t.1) <= 250.0, "found {r:?}, truth {t:?}");
        // With no sound past the VAD's end (steady noise), refinement only trims that end, by at
        // most its limit, and never touches the start.
        assert_eq!(r.0, v.0);
        assert!(r.1 <= v.1 && v.1 - r.1 <= (config.edge_max_trim_frames * VAD_FRAME_LEN) as u64);
        refined_error += ms(r.1, t.1);
        vad_error += ms(v.1, t.1);
    }
    let n = truth.len() as f64;
    eprintln!("mean end error: refined {:.0} ms, VAD only {:.0} ms", refined_error / n, vad_error / n);
    assert!(refined_error < vad_error, "refined {refined_error} ms, VAD only {vad_error} ms in all");
}

#[test]
fn the_noise_floor_follows_the_background_not_the_speech() {
    let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>();
    let mut segmenter = Segmenter::new(SegmenterConfig::from_millis(1, 60, 300, 60, 300, 8000).unwrap());
    let (signal, _) = noisy_sentences(3);
    let mut out = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let quiet = uniform_noise(VAD_FRAME_LEN * 50, 0.01, &mut state);
    segmenter.push(&quiet, &mut out);
    let background = energy(&quiet) / 50.0;
    let floor = segmenter.noise_floor().unwrap();
    assert!(floor > 0.5 * background && floor < 1.5 * background, "floor {floor}, background {background}");
    segmenter.push(&signal, &mut out);
    let speech_free = energy(&signal[..16_000]) / 50.0;
    let floor = segmenter.noise_floor().unwrap();
    assert!(floor < 2.0 * speech_free, "floor {floor} after speech, background {speech_free}");
}

#[test]
fn a_soft_tail_the_vad_calls_silence_extends_the_end() {
    // One sentence under noise, then 100 ms of noise 12 dB above the background starting 20 ms
    // after the VAD's padded end, entirely above 6 kHz (a fricative or a breath), where the VAD,
    // which judges 0-4 kHz, does not look.
    let (mut signal, _) = noisy_sentences(1);
    let config = SegmenterConfig::from_millis(1, 60, 300, 100, 300, 8000).unwrap();
    let vad_only = segment_bounds(&signal, config.with_edge(0.0, 0, 0));
    let [(start, vad_end)] = vad_only[..] else { panic!("one utterance, got {vad_only:?}") };
    let background = (signal[..16_000].iter().map(|x| x * x).sum::<f32>() / 16_000.0).sqrt();
    let mut state = 0x51_7cc1_b727_220au64;
    // Noise averaged over 4 samples (below about 2 kHz), every other sample negated: its
    // spectrum moves above 6 kHz. Uniform on [-a, a] averaged over 4 has RMS a / sqrt(12).
    let a = 4.0 * background * 12f32.sqrt();
    let tail: Vec<f32> = uniform_noise(1_603, a, &mut state)
        .windows(4)
        .enumerate()
        .map(|(i, w)| w.iter().sum::<f32>() / 4.0 * if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let tail_start = vad_end + 320;
    let tail_end = tail_start + tail.len() as u64;
    for (i, t) in tail.iter().enumerate() {
        signal[tail_start as usize + i] += t;
    }
    assert_eq!(segment_bounds(&signal, config.with_edge(0.0, 0, 0)), vad_only, "the VAD hears no tail");
    let without = segment_bounds(&signal, config.with_edge_extension(0));
    let with = segment_bounds(&signal, config.with_edge_extension(200));
    assert_eq!((without.len(), with.len()), (1, 1));
    assert!(without[0].1 <= vad_end, "without extension the end stays at most the VAD's: {without:?}");
    let edge_pad = (config.edge_pad_frames * VAD_FRAME_LEN) as u64;
    assert_eq!(with[0].0, start);
    assert!(with[0].1 >= tail_end && with[0].1 <= tail_end + edge_pad, "end {} for a tail ending at {tail_end}", with[0].1);
}

#[test]
fn a_narrower_band_than_the_models_is_said_once_per_input() {
    let dir = temp_dir("band");
    let weights = dir.join("m.safetensors");
    save_model(&weights, Padding::Masked);
    let (signal, _) = joined_sentences(2, 3);
    let args =
        |rate: &'static str| ["listen", "--weights", weights.to_str().unwrap(), "--raw", "s16le", "--rate", rate, "-"].map(String::from);
    let (ok, _, stdout, stderr) = run_with_stdin(&args("8000").each_ref().map(String::as_str), &s16le(&at_rate(&signal, 8_000)), &[4_000]);
    assert!(ok && stdout.contains(" s: "), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "warning: standard input, sampled at 8000 Hz, carries nothing above 4000 Hz, narrower than the band the model was trained for \
         (wideband, up to 8000 Hz); expect lower accuracy (a model trained with --band telephone hears such audio as it was trained)"
    );
    let (ok, _, _, stderr) = run_with_stdin(&args("16000").each_ref().map(String::as_str), &s16le(&at_rate(&signal, 16_000)), &[4_000]);
    assert!(ok && stderr.is_empty(), "{stderr}");
}

#[test]
fn context_widens_what_is_classified_not_what_is_reported() {
    let (signal, _) = noisy_sentences(4);
    let config = SegmenterConfig::from_millis(1, 60, 300, 100, 300, 8000).unwrap();
    let utterances = |context_ms: u32| {
        let mut segmenter = Segmenter::new(config.with_context(context_ms));
        let mut out = Vec::new();
        segmenter.push(&signal, &mut out);
        segmenter.finish(&mut out);
        out
    };
    let (without, with) = (utterances(0), utterances(100));
    assert_eq!(without.len(), 4);
    assert_eq!(with.len(), without.len());
    for (w, o) in with.iter().zip(&without) {
        assert_eq!((w.speech_start, w.speech_end), (o.speech_start, o.speech_end));
        assert_eq!((o.start, o.speech_start), (o.speech_start, o.speech_start), "no context: the samples start where the report does");
        assert_eq!((w.speech_start - w.start, w.end() - o.end()), (1_600, 1_600), "100 ms more on each side");
        assert_eq!(&signal[w.start as usize..w.end() as usize], &w.samples[..]);
    }
    assert!(with.windows(2).all(|p| p[1].start >= p[0].end()));
}
