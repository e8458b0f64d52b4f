//! Property tests of the WAV reader: arbitrary or damaged bytes give an error, never a panic, and
//! every format hound writes reads back within its quantisation step.

use hound::{SampleFormat, WavSpec, WavWriter};
use proptest::prelude::*;
use ser::audio::{read_wav_bytes, SAMPLE_RATE_RANGE};
use std::io::Cursor;

/// The encodings `read_wav_bytes` supports: (format, bits per sample).
const ENCODINGS: [(SampleFormat, u16); 5] =
    [(SampleFormat::Int, 8), (SampleFormat::Int, 16), (SampleFormat::Int, 24), (SampleFormat::Int, 32), (SampleFormat::Float, 32)];

/// A WAV written by hound from `interleaved` samples in [-1, 1) (frames x channels).
fn hound_wav(format: SampleFormat, bits: u16, channels: u16, rate: u32, interleaved: &[f32]) -> Vec<u8> {
    let spec = WavSpec { channels, sample_rate: rate, bits_per_sample: bits, sample_format: format };
    let mut bytes = Cursor::new(Vec::new());
    let mut writer = WavWriter::new(&mut bytes, spec).unwrap();
    for &x in interleaved {
        match format {
            SampleFormat::Float => writer.write_sample(x).unwrap(),
            SampleFormat::Int => writer.write_sample(quantise(x, bits)).unwrap(),
        }
    }
    writer.finalize().unwrap();
    bytes.into_inner()
}

/// x in [-1, 1) as a `bits`-bit integer sample.
fn quantise(x: f32, bits: u16) -> i32 {
    let full_scale = (1i64 << (bits - 1)) as f64;
    (x as f64 * full_scale).round().clamp(-full_scale, full_scale - 1.0) as i32
}

/// A valid WAV of random encoding, channel count, rate and samples, with its spec and samples.
fn any_wav() -> impl Strategy<Value = (Vec<u8>, u16, u16, Vec<f32>)> {
    (0..ENCODINGS.len(), 1u16..=4, SAMPLE_RATE_RANGE, 1usize..200)
        .prop_flat_map(|(encoding, channels, rate, frames)| {
            let samples = prop::collection::vec(-1.0f32..1.0, frames * channels as usize);
            (Just(encoding), Just(channels), Just(rate), samples)
        })
        .prop_map(|(encoding, channels, rate, samples)| {
            let (format, bits) = ENCODINGS[encoding];
            (hound_wav(format, bits, channels, rate, &samples), bits, channels, samples)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_wav_bytes(&bytes, "random.wav");
        // The same bytes behind a valid magic reach hound's header parsing.
        let mut riff = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
        riff.extend(&bytes);
        let _ = read_wav_bytes(&riff, "random.wav");
    }

    #[test]
    fn damaged_headers_are_an_error_not_a_panic((wav, ..) in any_wav(), damage in prop::collection::vec((0usize..64, any::<u8>()), 1..6)) {
        let mut wav = wav;
        for (at, byte) in damage {
            if at < wav.len() {
                wav[at] = byte;
            }
        }
        if let Ok(audio) = read_wav_bytes(&wav, "damaged.wav") {
            prop_assert!(audio.samples.iter().all(|x| x.is_finite()));
            prop_assert!(SAMPLE_RATE_RANGE.contains(&audio.sample_rate));
        }
    }

    #[test]
    fn hound_wavs_round_trip_within_quantisation((wav, bits, channels, samples) in any_wav()) {
        let audio = read_wav_bytes(&wav, "valid.wav").unwrap();
        let channels = channels as usize;
        prop_assert_eq!(audio.samples.len(), samples.len() / channels);
        // One quantisation step per channel, averaged, plus float rounding of the mix.
        let step = 1.0 / (1u64 << (bits - 1)) as f32;
        for (frame, &mono) in samples.chunks_exact(channels).zip(&audio.samples) {
            let expected = frame.iter().sum::<f32>() / channels as f32;
            prop_assert!((mono - expected).abs() <= step + 1e-6, "read {} expected {} (step {})", mono, expected, step);
        }
    }

    #[test]
    fn a_truncated_wav_is_an_error_or_a_shorter_clip((wav, _, channels, samples) in any_wav(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(wav.len());
        if let Ok(audio) = read_wav_bytes(&wav[..cut], "truncated.wav") {
            prop_assert!(audio.samples.len() <= samples.len() / channels as usize);
        }
    }
}

/// A data chunk that claims 4 GB in a file of a few bytes: the reader must not try to allocate
/// for the claim (an allocation failure aborts, it cannot be caught).
#[test]
fn a_huge_declared_data_size_is_a_truncation_not_an_allocation() {
    let mut wav = hound_wav(SampleFormat::Float, 32, 1, 16_000, &[0.5; 4]);
    let data_size_at = wav.len() - 16 - 4;
    assert_eq!(&wav[data_size_at - 4..data_size_at], b"data");
    wav[data_size_at..data_size_at + 4].copy_from_slice(&(u32::MAX - 3).to_le_bytes());
    let err = read_wav_bytes(&wav, "huge.wav").unwrap_err();
    assert!(err.to_string().starts_with("huge.wav: truncated"), "{err}");
}
