//! A long recording for `ser listen`'s benchmarks, written to standard output as it is made:
//! clips (a RAVDESS-named folder, or ser's synthetic speech) joined by pauses of 0.4 to 2 s,
//! under a steady background noise at a given SNR, at any rate and channel count, as a WAV
//! stream (length unknown, as a pipe from `arecord` or `ffmpeg`) or raw s16le. The truth goes to a
//! CSV: where each clip's sound starts and ends (first and last sample above 2 % of its peak),
//! its emotion and file, and where the whole clip starts and ends.
//!
//! ```text
//! cargo run --release --example listen_stream -- --clips DIR --part test --seconds 3600 \
//!     --rate 48000 --channels 2 --truth truth.csv > hour.wav
//! ```
//!
//! `--pace F` writes at F times real time (pacing once per clip), as a live source would, for
//! latency measurements. `--clips-out DIR` also writes each clip as it sounds in the recording
//! (its noise included, at the recording's rate, one channel) with `DIR/labels.csv`, so that
//! `ser eval --data DIR --labels DIR/labels.csv --vad never` scores the same clips alone.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ser::data::pipeline::{list_clips, DataCounts};
use ser::data::split::split_files;
use ser::data::{parse_name, NameKind, EMOTIONS};
use std::io::Write;
use std::path::PathBuf;

struct Options {
    clips: Option<PathBuf>,
    part: String,
    seconds: f64,
    rate: u32,
    channels: usize,
    snr_db: f64,
    seed: u64,
    truth: Option<PathBuf>,
    raw: bool,
    /// Write at this many times real time (0: as fast as possible), as a live source would.
    pace: f64,
    /// Also write each clip as it sounds in the recording (noise included) to this folder, with a
    /// labels CSV, so `ser eval --labels` scores the same noisy clips alone.
    clips_out: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        clips: None,
        part: "all".into(),
        seconds: 60.0,
        rate: 48_000,
        channels: 2,
        snr_db: 20.0,
        seed: 0,
        truth: None,
        raw: false,
        pace: 0.0,
        clips_out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--clips" => o.clips = Some(value().into()),
            "--part" => o.part = value(),
            "--seconds" => o.seconds = value().parse().expect("--seconds: a number"),
            "--rate" => o.rate = value().parse().expect("--rate: Hz"),
            "--channels" => o.channels = value().parse().expect("--channels: a count"),
            "--snr-db" => o.snr_db = value().parse().expect("--snr-db: a number"),
            "--seed" => o.seed = value().parse().expect("--seed: a number"),
            "--truth" => o.truth = Some(value().into()),
            "--raw" => o.raw = true,
            "--pace" => o.pace = value().parse().expect("--pace: times real time"),
            "--clips-out" => o.clips_out = Some(value().into()),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// The clips to join, at 16 kHz, with their emotion index and name.
fn load_clips(o: &Options) -> Vec<(Vec<f32>, usize, String)> {
    let Some(dir) = &o.clips else {
        // 64 synthetic sentences, every emotion and four voices.
        return (0..64u64)
            .map(|k| {
                let emotion = (k % 8) as u8;
                // RAVDESS has no strong neutral, so neutral stays at normal intensity.
                let intensity = if emotion == 0 { 1 } else { 1 + (k / 32) as u8 };
                let clip = ser::synth::synthesize_clip(o.seed + k, 1 + (k / 8 % 4) as u8, emotion, intensity, 1 + (k % 2) as u8, 1);
                (clip.samples, emotion as usize, clip.file_name)
            })
            .collect();
    };
    let mut counts = DataCounts::default();
    let clips = list_clips(dir, &mut counts).expect("a folder of RAVDESS-named clips");
    let chosen: Vec<usize> = match o.part.as_str() {
        "all" => (0..clips.len()).collect(),
        // The same split `ser train --layout pool --seed 0` makes.
        "test" => split_files(clips.len(), 0).test,
        "val" => split_files(clips.len(), 0).val,
        other => panic!("--part {other}: all, val or test"),
    };
    chosen
        .into_iter()
        .map(|i| {
            let audio = ser::audio::read_wav(&clips[i].path).expect("a readable clip");
            let samples = ser::audio::resample(&audio.samples, audio.sample_rate, 16_000).expect("resampling");
            (samples, clips[i].emotion, clips[i].path.display().to_string())
        })
        .collect()
}

/// Writes 16-bit frames with the background noise added, up to a total.
struct Writer {
    total: u64,
    written: u64,
    amplitude: f32,
    channels: usize,
    frame: Vec<u8>,
    /// The samples written while capturing (one channel), for `--clips-out`.
    capture: Option<Vec<i16>>,
}

impl Writer {
    /// Writes `signal` plus noise; false once the total is reached or the reader has gone.
    fn emit(&mut self, signal: &[f32], rng: &mut StdRng, out: &mut impl Write) -> bool {
        for &s in signal {
            if self.written == self.total {
                return false;
            }
            let x = s + self.amplitude * rng.gen_range(-1.0f32..1.0);
            let pcm = (x.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            if let Some(c) = self.capture.as_mut() {
                c.push(pcm);
            }
            self.frame.clear();
            for _ in 0..self.channels {
                self.frame.extend(pcm.to_le_bytes());
            }
            if out.write_all(&self.frame).is_err() {
                return false;
            }
            self.written += 1;
        }
        true
    }
}

fn main() {
    let o = options();
    let clips = load_clips(&o);
    let rms = |x: &[f32]| (x.iter().map(|v| (v * v) as f64).sum::<f64>() / x.len().max(1) as f64).sqrt();
    let speech_rms = clips.iter().map(|(s, _, _)| rms(s)).sum::<f64>() / clips.len() as f64;
    let noise_rms = speech_rms / 10f64.powf(o.snr_db / 20.0);
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut truth = o.truth.as_ref().map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("the truth file")));
    if let Some(t) = truth.as_mut() {
        writeln!(t, "start,end,emotion,file,clip_start,clip_end").unwrap();
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    if !o.raw {
        // A WAV header whose sizes are the 0xFFFFFFFF a pipe writer puts there.
        let block = 2 * o.channels as u16;
        let mut h = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0".to_vec();
        h.extend((o.channels as u16).to_le_bytes());
        h.extend(o.rate.to_le_bytes());
        h.extend((o.rate * block as u32).to_le_bytes());
        h.extend(block.to_le_bytes());
        h.extend(16u16.to_le_bytes());
        h.extend(b"data\xff\xff\xff\xff");
        out.write_all(&h).unwrap();
    }
    // Uniform noise of the wanted RMS (a uniform on [-a, a] has RMS a / sqrt 3).
    let amplitude = (noise_rms * 3f64.sqrt()) as f32;
    let mut writer =
        Writer { total: (o.seconds * o.rate as f64) as u64, written: 0, amplitude, channels: o.channels, frame: Vec::new(), capture: None };
    let mut clips_csv = o.clips_out.as_ref().map(|dir| {
        std::fs::create_dir_all(dir).expect("the --clips-out folder");
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.csv")).expect("labels.csv"));
        writeln!(f, "file,emotion,speaker").unwrap();
        f
    });
    let started = std::time::Instant::now();
    let mut order: Vec<usize> = (0..clips.len()).collect();
    'outer: loop {
        // Every clip once per round, in a new order each round.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        for &k in &order {
            let pause = vec![0.0f32; (rng.gen_range(0.4..2.0) * o.rate as f64) as usize];
            if o.pace > 0.0 {
                // Hold the output to `pace` times real time, flushing what is due.
                let due = writer.written as f64 / o.rate as f64 / o.pace;
                let _ = out.flush();
                let ahead = due - started.elapsed().as_secs_f64();
                if ahead > 0.0 {
                    std::thread::sleep(std::time::Duration::from_secs_f64(ahead));
                }
            }
            if !writer.emit(&pause, &mut rng, &mut out) {
                break 'outer;
            }
            let (samples, emotion, name) = &clips[k];
            let at = ser::audio::resample(samples, 16_000, o.rate).expect("resampling");
            // The truth is where the clip's sound is: its first and last sample above 2 % of its peak.
            let peak = samples.iter().fold(0f32, |m, x| m.max(x.abs()));
            let first = samples.iter().position(|x| x.abs() > 0.02 * peak).unwrap_or(0);
            let last = samples.iter().rposition(|x| x.abs() > 0.02 * peak).map_or(samples.len(), |i| i + 1);
            let clip_start = writer.written as f64 / o.rate as f64;
            if clips_csv.is_some() {
                writer.capture = Some(Vec::with_capacity(at.len()));
            }
            let complete = writer.emit(&at, &mut rng, &mut out);
            if let (Some(csv), Some(dir), Some(pcm), true) = (clips_csv.as_mut(), o.clips_out.as_ref(), writer.capture.take(), complete) {
                let file = format!("clip-{:05}.wav", writer.written);
                let spec =
                    hound::WavSpec { channels: 1, sample_rate: o.rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
                let mut w = hound::WavWriter::create(dir.join(&file), spec).expect("a clip WAV");
                pcm.iter().for_each(|&v| w.write_sample(v).unwrap());
                w.finalize().unwrap();
                // The speaker is the name's actor (synthetic names follow RAVDESS's too).
                let Ok(NameKind::Speech(info)) = parse_name(std::path::Path::new(name)) else {
                    panic!("{name}: not a RAVDESS speech name")
                };
                writeln!(csv, "{file},{},{:02}", EMOTIONS[*emotion], info.actor).unwrap();
            }
            if let (Some(t), true) = (truth.as_mut(), complete) {
                let (start, end) = (clip_start + first as f64 / 16_000.0, clip_start + last as f64 / 16_000.0);
                let clip_end = clip_start + at.len() as f64 / o.rate as f64;
                writeln!(t, "{start:.4},{end:.4},{},{name},{clip_start:.4},{clip_end:.4}", EMOTIONS[*emotion]).unwrap();
            }
            if !complete {
                break 'outer;
            }
        }
    }
    let _ = out.flush();
}
