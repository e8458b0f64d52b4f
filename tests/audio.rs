//! The audio front end end to end: WAV files on disk, resampling, VAD trimming, augmentation.
//!
//! Signals have known answers: tones whose frequency and RMS are known, a speech-like burst
//! between silences, WAV files written with hound sample by sample.

use std::f64::consts::PI;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use hound::{SampleFormat, WavSpec, WavWriter};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use ser::audio::{add_noise, pitch_shift, read_wav, read_wav_bytes, resample, speed_perturb, vad_trim, write_wav, Audio, AudioError};

/// A fresh path in the system temp dir, unique per process and call.
fn temp_wav(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ser-audio-test-{}-{n}-{label}.wav", std::process::id()))
}

/// Writes interleaved integer samples with hound.
fn write_int_wav(label: &str, bits: u16, channels: u16, sample_rate: u32, samples: &[i32]) -> PathBuf {
    let path = temp_wav(label);
    let spec = WavSpec { channels, sample_rate, bits_per_sample: bits, sample_format: SampleFormat::Int };
    let mut writer = WavWriter::create(&path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    path
}

fn write_float_wav(label: &str, samples: &[f32]) -> PathBuf {
    let path = temp_wav(label);
    let spec = WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 32, sample_format: SampleFormat::Float };
    let mut writer = WavWriter::create(&path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    path
}

fn sine(freq: f64, sample_rate: u32, len: usize, amplitude: f64) -> Vec<f32> {
    (0..len).map(|i| (amplitude * (2.0 * PI * freq * i as f64 / sample_rate as f64).sin()) as f32).collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Frequency in Hz of the largest bin of the Hann-windowed FFT of the whole clip; bins are
/// sample_rate / len apart.
fn peak_frequency(x: &[f32], sample_rate: u32) -> f64 {
    let n = x.len();
    let mut buf: Vec<Complex64> =
        x.iter().enumerate().map(|(i, &v)| Complex64::new(v as f64 * (0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()), 0.0)).collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let peak = (0..n / 2).max_by(|&a, &b| buf[a].norm().total_cmp(&buf[b].norm())).unwrap();
    peak as f64 * sample_rate as f64 / n as f64
}

/// The error's message must name the file it is about.
fn assert_names_file(err: &AudioError, path: &std::path::Path) {
    let message = err.to_string();
    assert!(message.starts_with(&path.display().to_string()), "message does not name the file: {message}");
}

// ---- WAV ----

#[test]
fn pcm_round_trips_scale_by_two_to_the_bits_minus_one() {
    for bits in [8u16, 16, 24, 32] {
        let full_scale = 1i64 << (bits - 1);
        let ints: Vec<i32> = [-full_scale, -full_scale / 2, -1, 0, 1, full_scale / 4, full_scale - 1].iter().map(|&v| v as i32).collect();
        let path = write_int_wav(&format!("pcm{bits}"), bits, 1, 22_050, &ints);
        let audio = read_wav(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(audio.sample_rate, 22_050);
        let expected: Vec<f32> = ints.iter().map(|&v| (v as f64 / full_scale as f64) as f32).collect();
        assert_eq!(audio.samples, expected, "{bits}-bit");
        assert_eq!(audio.samples[0], -1.0);
    }
}

#[test]
fn float_round_trips_exactly() {
    let samples = [0.0f32, 0.5, -0.25, 1.0, -1.0, 1e-7, 1.5];
    let path = write_float_wav("float", &samples);
    let audio = read_wav(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(audio.samples, samples.to_vec());
}

#[test]
fn channels_are_averaged_into_mono() {
    // Stereo frames (16384, -8192) and (-32768, 32767); then three channels.
    let path = write_int_wav("stereo", 16, 2, 16_000, &[16384, -8192, -32768, 32767]);
    let audio = read_wav(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(audio.samples, vec![0.125, (-1.0 + 32767.0 / 32768.0) / 2.0]);

    let path = write_int_wav("three", 16, 3, 16_000, &[8192, 8192, -16384]);
    let audio = read_wav(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(audio.samples, vec![0.0]);
}

#[test]
fn write_then_read_gives_back_16_bit_samples_and_leaves_no_temp_file() {
    let samples: Vec<f32> = [-32768, -100, 0, 1, 12345, 32767].iter().map(|&v| v as f32 / 32768.0).collect();
    let audio = Audio { samples, sample_rate: 16_000 };
    let path = temp_wav("written");
    write_wav(&path, &audio).unwrap();
    let back = read_wav(&path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let leftovers: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(&name) && f.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files were left behind: {leftovers:?}");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, audio);

    // Out-of-range samples clip.
    let loud = Audio { samples: vec![2.0, -2.0, 1.0], sample_rate: 8_000 };
    let path = temp_wav("clipped");
    write_wav(&path, &loud).unwrap();
    let back = read_wav(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back.samples, vec![32767.0 / 32768.0, -1.0, 32767.0 / 32768.0]);
}

#[test]
fn write_into_a_missing_directory_is_an_io_error_naming_the_file() {
    let path = std::env::temp_dir().join("ser-no-such-dir").join("x.wav");
    let err = write_wav(&path, &Audio { samples: vec![0.0], sample_rate: 16_000 }).unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("x.wav"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = temp_wav("never-written");
    let err = read_wav(&path).unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
    assert_names_file(&err, &path);
}

#[test]
fn garbage_bytes_are_not_a_wav() {
    let path = temp_wav("garbage");
    std::fs::write(&path, b"ID3\x03\x00 this is an mp3, honest").unwrap();
    let err = read_wav(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(err, AudioError::NotWav { .. }), "{err:?}");
    assert_names_file(&err, &path);
    assert!(err.to_string().ends_with("not a WAV file (no RIFF/WAVE header)"), "{err}");
    assert!(matches!(read_wav_bytes(b"", "empty.wav"), Err(AudioError::NotWav { .. })));
}

#[test]
fn truncated_header_and_truncated_data_are_reported() {
    let path = write_int_wav("full", 16, 1, 16_000, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();

    for cut in [8, 20, 40] {
        let err = read_wav_bytes(&bytes[..cut], "cut.wav").unwrap_err();
        assert!(matches!(err, AudioError::TruncatedHeader { .. }), "cut at {cut}: {err:?}");
        assert!(err.to_string().starts_with("cut.wav: "), "{err}");
    }
    // Drop the last 3 samples' bytes (6 bytes) and half a sample: 4 whole samples remain.
    let err = read_wav_bytes(&bytes[..bytes.len() - 7], "short.wav").unwrap_err();
    match err {
        AudioError::TruncatedData { expected, actual, .. } => assert_eq!((expected, actual), (8, 4)),
        other => panic!("expected TruncatedData, got {other:?}"),
    }
}

#[test]
fn zero_samples_is_an_error() {
    let path = write_int_wav("empty", 16, 1, 16_000, &[]);
    let err = read_wav(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(err, AudioError::Empty { .. }), "{err:?}");
    assert_names_file(&err, &path);
    assert!(err.to_string().ends_with("contains no samples"));
}

#[test]
fn non_finite_float_sample_is_reported_by_index() {
    let path = write_float_wav("nan", &[0.0, 0.1, f32::NAN, 0.2]);
    let err = read_wav(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_names_file(&err, &path);
    assert!(err.to_string().ends_with("sample 2 is NaN"), "{err}");

    let path = write_float_wav("inf", &[f32::NEG_INFINITY]);
    let err = read_wav(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.to_string().ends_with("sample 0 is -inf"), "{err}");
}

#[test]
fn absurd_sample_rates_are_rejected() {
    for rate in [3u32, 999, 384_001, 4_000_000] {
        let path = write_int_wav("rate", 16, 1, rate, &[0, 1]);
        let err = read_wav(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, AudioError::SampleRateOutOfRange { .. }), "{rate}: {err:?}");
        assert_names_file(&err, &path);
        assert!(err.to_string().ends_with(&format!("sample rate {rate} Hz is out of range (1000..=384000)")), "{err}");
    }
    for rate in [1000u32, 384_000] {
        let path = write_int_wav("rate-ok", 16, 1, rate, &[0, 1]);
        assert_eq!(read_wav(&path).unwrap().sample_rate, rate);
        std::fs::remove_file(&path).unwrap();
    }
}

/// A minimal canonical WAV: RIFF header, 16-byte fmt chunk, data chunk.
fn handmade_wav(format_tag: u16, bits: u16, data: &[u8]) -> Vec<u8> {
    let block_align = bits / 8;
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend((36 + data.len() as u32).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(format_tag.to_le_bytes());
    b.extend(1u16.to_le_bytes()); // channels
    b.extend(16_000u32.to_le_bytes());
    b.extend((16_000 * block_align as u32).to_le_bytes());
    b.extend(block_align.to_le_bytes());
    b.extend(bits.to_le_bytes());
    b.extend(b"data");
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    b
}

#[test]
fn unsupported_encodings_are_named() {
    // Sanity: the handmade layout is a valid 16-bit PCM file.
    assert_eq!(read_wav_bytes(&handmade_wav(1, 16, &[0, 64]), "ok.wav").unwrap().samples, vec![0.5]);
    let cases = [
        (3u16, 24u16, "x.wav: 24-bit float is not a supported encoding"),
        (3, 64, "x.wav: 64-bit float is not a supported encoding"),
        (7, 8, "x.wav: 8-bit mu-law is not a supported encoding"),
        (6, 8, "x.wav: 8-bit A-law is not a supported encoding"),
    ];
    for (tag, bits, message) in cases {
        let bytes = handmade_wav(tag, bits, &vec![0u8; 2 * (bits / 8) as usize]);
        let err = read_wav_bytes(&bytes, "x.wav").unwrap_err();
        assert!(matches!(err, AudioError::UnsupportedEncoding { .. }), "{err:?}");
        assert_eq!(err.to_string(), message);
    }
}

// ---- resampling ----

#[test]
fn resampling_48k_to_16k_keeps_a_tone_its_energy_and_its_timing() {
    let input = sine(1000.0, 48_000, 48_000, 0.5);
    let output = resample(&input, 48_000, 16_000).unwrap();
    assert_eq!(output.len(), 16_000);
    assert_eq!(peak_frequency(&output, 16_000), 1000.0);
    let ratio = rms(&output) / rms(&input);
    assert!((ratio - 1.0).abs() < 0.01, "RMS ratio {ratio}");
    // Time-aligned: away from the edges, output sample j is the tone at time j / 16000.
    let expected = sine(1000.0, 16_000, 16_000, 0.5);
    let worst = (500..15_500).map(|j| (output[j] - expected[j]).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "worst deviation from the aligned tone {worst}");
}

#[test]
fn resampling_up_and_at_an_awkward_ratio_keeps_the_tone() {
    let input = sine(440.0, 22_050, 22_050, 0.5);
    let output = resample(&input, 22_050, 16_000).unwrap();
    assert_eq!(output.len(), 16_000);
    assert_eq!(peak_frequency(&output, 16_000), 440.0);
    let output = resample(&input, 22_050, 44_100).unwrap();
    assert_eq!(output.len(), 44_100);
    assert_eq!(peak_frequency(&output, 44_100), 440.0);
}

// ---- VAD ----

/// A vowel-like sound: harmonics of a 120 Hz voice shaped by three formants, with a 4 Hz
/// syllable-rate amplitude envelope, at an RMS of about 0.1 (-20 dBFS, a typical speech level).
fn speech_like(len: usize, sample_rate: u32) -> Vec<f32> {
    let formants = [(700.0, 130.0), (1220.0, 70.0), (2600.0, 160.0)];
    let f0 = 120.0;
    (0..len)
        .map(|i| {
            let t = i as f64 / sample_rate as f64;
            let voiced: f64 = (1..(4000.0 / f0) as usize)
                .map(|h| {
                    let f = h as f64 * f0;
                    let gain: f64 = formants.iter().map(|&(centre, bw)| 1.0 / (1.0 + ((f - centre) / bw).powi(2))).sum();
                    gain * (2.0 * PI * f * t).sin() / h as f64
                })
                .sum();
            let syllables = 0.75 + 0.25 * (2.0 * PI * 4.0 * t).sin();
            (0.5 * syllables * voiced) as f32
        })
        .collect()
}

#[test]
fn vad_keeps_the_speech_between_silences() {
    let rate = 16_000;
    let mut clip = vec![0.0f32; rate as usize];
    clip.extend(speech_like(rate as usize, rate));
    clip.extend(vec![0.0f32; rate as usize]);
    let kept = vad_trim(&clip, rate, "clip.wav").unwrap();
    assert_eq!(kept.len() % 320, 0);
    let seconds = kept.len() as f64 / rate as f64;
    assert!((0.9..=1.2).contains(&seconds), "kept {seconds} s");
    // Every speech frame is kept; the only silence kept is the VAD's hangover after speech
    // ends (a few frames in WebRTC's design), none from before it.
    let is_silent = |frame: &[f32]| rms(frame) < 1e-3;
    let speech_frames = kept.chunks(320).filter(|f| !is_silent(f)).count();
    assert_eq!(speech_frames, 50);
    assert!(!is_silent(&kept[..320]), "silence before the speech was kept");
    let hangover = kept.chunks(320).rev().take_while(|f| is_silent(f)).count();
    assert!(hangover <= 10, "{hangover} silent frames kept after the speech");
}

#[test]
fn vad_zero_pads_the_last_partial_frame() {
    let rate = 16_000;
    // 50 full frames and 100 samples: all speech, so 51 frames come back, the last one padded.
    let clip = speech_like(rate as usize + 100, rate);
    let kept = vad_trim(&clip, rate, "clip.wav").unwrap();
    assert_eq!(kept.len(), 51 * 320);
    assert_eq!(kept[..16_100], clip[..]);
    assert!(kept[16_100..].iter().all(|&x| x == 0.0));
}

#[test]
fn silence_has_no_speech() {
    let err = vad_trim(&vec![0.0f32; 48_000], 16_000, "quiet.wav").unwrap_err();
    assert!(matches!(err, AudioError::NoSpeech { frames: 150, .. }), "{err:?}");
    assert!(err.to_string().starts_with("quiet.wav: no speech"), "{err}");
}

// ---- augmentation ----

#[test]
fn pitch_shift_moves_a_tone_by_semitones_and_keeps_the_duration() {
    let rate = 16_000;
    let tone = sine(440.0, rate, rate as usize, 0.5);
    for n_steps in [3.0, -3.0] {
        let shifted = pitch_shift(&tone, rate, n_steps);
        assert_eq!(shifted.len(), tone.len());
        let expected = 440.0 * 2f64.powf(n_steps / 12.0);
        let peak = peak_frequency(&shifted, rate);
        // Bins are 1 Hz apart.
        assert!((peak - expected).abs() <= 1.0, "{n_steps:+} steps: peak {peak} Hz, expected {expected} Hz");
        // The level is not checked tightly: torchaudio's phase vocoder takes its phases from the
        // first frames, which reflect padding makes non-sinusoidal, so a stretched pure tone's
        // bins interfere and +3 steps loses about 40% of the RMS (see augment.rs). It must not vanish.
        let ratio = rms(&shifted[2000..14_000]) / rms(&tone[2000..14_000]);
        assert!((0.4..1.2).contains(&ratio), "{n_steps:+} steps: RMS ratio {ratio}");
    }
    assert_eq!(pitch_shift(&tone, rate, 0.0).len(), tone.len());
}

#[test]
fn speed_perturbation_scales_a_tones_frequency_by_the_factor_and_its_length_by_the_inverse() {
    let rate = 16_000;
    let tone = sine(440.0, rate, rate as usize, 0.5);
    for factor in [0.9, 1.1, 0.85, 1.15] {
        let fast = speed_perturb(&tone, factor);
        assert_eq!(fast.len(), (tone.len() as f64 / factor).ceil() as usize, "factor {factor}");
        let peak = peak_frequency(&fast, rate);
        let bin = rate as f64 / fast.len() as f64;
        assert!((peak - 440.0 * factor).abs() <= bin, "factor {factor}: peak {peak} Hz, expected {} Hz", 440.0 * factor);
        // Resampling keeps the level (the tone is far below either Nyquist frequency).
        let middle = fast.len() / 8..fast.len() * 7 / 8;
        let ratio = rms(&fast[middle]) / rms(&tone);
        assert!((ratio - 1.0).abs() < 0.01, "factor {factor}: RMS ratio {ratio}");
    }
}

#[test]
#[should_panic(expected = "not a whole number of thousandths")]
fn speed_perturbation_refuses_a_factor_it_cannot_make_exact() {
    speed_perturb(&[0.0; 100], 0.9005);
}

#[test]
fn noise_has_the_requested_sigma_and_is_reproducible() {
    let clean = vec![0.25f32; 200_000];
    let noisy = add_noise(&clean, 0.05, &mut StdRng::seed_from_u64(7));
    let diffs: Vec<f64> = noisy.iter().zip(&clean).map(|(n, c)| (n - c) as f64).collect();
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let sigma = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diffs.len() as f64).sqrt();
    assert!(mean.abs() < 1e-3, "mean {mean}");
    assert!((sigma - 0.05).abs() < 0.05 * 0.01, "sigma {sigma}");
    assert_eq!(add_noise(&clean, 0.05, &mut StdRng::seed_from_u64(7)), noisy);
    assert_ne!(add_noise(&clean, 0.05, &mut StdRng::seed_from_u64(8)), noisy);
}
