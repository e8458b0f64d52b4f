//! Channel corruptions of a clip: what a recording meets between the speaker and the model.
//! Each is seeded, so the same seed gives the same samples.
//!
//! - **Additive noise** at a signal-to-noise ratio relative to the speech: white (Gaussian), pink
//!   (power falling as `1/f`: Gaussian noise shaped in the frequency domain) or babble (a mix of
//!   other talkers' clips, chosen by the caller with [`babble_talkers`] so that the clip's own
//!   speaker is never one of them). The noise is scaled so that
//!   `10 log10(P_speech / P_noise)` is the SNR, powers being mean squares over the clip.
//! - **Telephone**: resampled to 8 kHz, band-passed to 300-3400 Hz (the ITU-T G.712 voice band),
//!   optionally coded as 8-bit mu-law (G.711, `mu = 255`), and resampled back to the clip's rate.
//! - **Reverberation**: the clip convolved with a room impulse response generated here:
//!   Gaussian noise under an exponential envelope whose energy falls 60 dB in `RT60` seconds (a
//!   diffuse late field, Polack's model), scaled back to the clip's RMS and cut to its length.
//! - **Level**: a gain in dB, then clipping to [-1, 1] as a converter would.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::resample::resample;
use super::AudioError;

/// The telephone's sample rate.
pub const TELEPHONE_RATE: u32 = 8_000;
/// The telephone voice band, Hz (ITU-T G.712).
pub const TELEPHONE_BAND_HZ: (f64, f64) = (300.0, 3_400.0);
/// Width of the raised-cosine edges of the band-pass, Hz: full gain inside the band, none
/// beyond an edge plus this width.
const BAND_EDGE_HZ: f64 = 100.0;
/// G.711's mu-law constant.
pub const MU: f64 = 255.0;
/// Mu-law codes are 8 bits.
const MU_LAW_LEVELS: f64 = 255.0;
/// Talkers mixed into one babble noise that `ser robustness` tests with (fewer when the folder
/// has fewer other clips).
pub const BABBLE_TALKERS: usize = 4;
/// The most talkers one babble may mix (training's or a test's).
pub const MAX_BABBLE_TALKERS: usize = 16;
/// Reverberation times accepted, s: from a small booth to a large hall.
pub const RT60_RANGE: std::ops::RangeInclusive<f64> = 0.05..=5.0;
/// Gains accepted, dB.
pub const GAIN_RANGE_DB: std::ops::RangeInclusive<f64> = -60.0..=60.0;
/// SNRs accepted, dB.
pub const SNR_RANGE_DB: std::ops::RangeInclusive<f64> = -30.0..=60.0;

/// The kinds of additive noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    White,
    Pink,
    /// Other talkers' clips mixed together.
    Babble,
}

/// One corruption and its severity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corruption {
    /// Additive noise `snr_db` below the speech.
    Noise { kind: NoiseKind, snr_db: f64 },
    /// 8 kHz, 300-3400 Hz, optionally 8-bit mu-law coded.
    Telephone { mu_law: bool },
    /// A generated room of this reverberation time, s.
    Reverb { rt60_s: f64 },
    /// This gain in dB, then clipping to [-1, 1].
    Gain { db: f64 },
}

/// Why a corruption could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum CorruptError {
    #[error("SNR {0} dB is outside -30 to 60 dB")]
    Snr(f64),
    #[error("RT60 {0} s is outside 0.05 to 5 s")]
    Rt60(f64),
    #[error("gain {0} dB is outside -60 to 60 dB")]
    Gain(f64),
    #[error("sample rate {0} Hz is below the telephone's 8000 Hz")]
    RateBelowTelephone(u32),
    #[error("the clip is silent: an SNR needs speech power")]
    Silent,
    #[error("babble needs clips of other speakers than actor {0}, and there are none")]
    NoOtherTalkers(u32),
    #[error("babble noise needs talkers' clips; none were given")]
    NoBabbleClips,
    /// The resampler's message.
    #[error("{0}")]
    Resample(String),
}

impl Corruption {
    /// Checks the severity against the accepted ranges.
    pub fn check(&self) -> Result<(), CorruptError> {
        match *self {
            Corruption::Noise { snr_db, .. } if !SNR_RANGE_DB.contains(&snr_db) => Err(CorruptError::Snr(snr_db)),
            Corruption::Reverb { rt60_s } if !RT60_RANGE.contains(&rt60_s) => Err(CorruptError::Rt60(rt60_s)),
            Corruption::Gain { db } if !GAIN_RANGE_DB.contains(&db) => Err(CorruptError::Gain(db)),
            _ => Ok(()),
        }
    }

    /// The corruption's family and kind, a stable key: `noise-white`, `telephone-mulaw`, `reverb`, `gain`.
    pub fn kind_key(&self) -> String {
        match self {
            Corruption::Noise { kind, .. } => format!("noise-{}", format!("{kind:?}").to_lowercase()),
            Corruption::Telephone { mu_law: false } => "telephone".into(),
            Corruption::Telephone { mu_law: true } => "telephone-mulaw".into(),
            Corruption::Reverb { .. } => "reverb".into(),
            Corruption::Gain { .. } => "gain".into(),
        }
    }

    /// Its severity in its own unit (`SNR 10 dB`, `RT60 0.6 s`, `+20 dB`, `8 kHz`).
    pub fn severity(&self) -> String {
        match *self {
            Corruption::Noise { snr_db, .. } => format!("SNR {snr_db} dB"),
            Corruption::Telephone { mu_law } => if mu_law { "8 kHz, mu-law" } else { "8 kHz" }.into(),
            Corruption::Reverb { rt60_s } => format!("RT60 {rt60_s} s"),
            Corruption::Gain { db } => format!("{db:+} dB"),
        }
    }
}

/// Applies `corruption` to `speech` (at `rate` Hz) with noise and rooms drawn from `seed`.
/// `babble` holds the clips babble noise is mixed from (see [`babble_talkers`]); other kinds
/// ignore it. The output has the input's length.
pub fn corrupt(speech: &[f32], rate: u32, corruption: &Corruption, seed: u64, babble: &[&[f32]]) -> Result<Vec<f32>, CorruptError> {
    corruption.check()?;
    let mut rng = StdRng::seed_from_u64(seed);
    match *corruption {
        Corruption::Noise { kind, snr_db } => {
            let noise = match kind {
                NoiseKind::White => white_noise(speech.len(), &mut rng),
                NoiseKind::Pink => pink_noise(speech.len(), &mut rng),
                NoiseKind::Babble => babble_noise(babble, speech.len(), &mut rng)?,
            };
            add_at_snr(speech, &noise, snr_db)
        }
        Corruption::Telephone { mu_law } => telephone(speech, rate, mu_law),
        Corruption::Reverb { rt60_s } => Ok(reverberate(speech, &room_impulse_response(rt60_s, rate, &mut rng))),
        Corruption::Gain { db } => Ok(gain_and_clip(speech, db)),
    }
}

/// Which uses a corruption seed serves; seeds of different uses are drawn from different hashes,
/// so training never meets the noise or the rooms that are tested with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedUse {
    /// `ser robustness`'s corrupted test clips.
    Test,
    /// Corrupted training copies.
    Training,
}

/// The seed of one corruption: a hash of its use, the run's seed, the clip (a hash of its name)
/// and the corruption's index.
pub fn corruption_seed(used_for: SeedUse, seed: u64, clip: u64, index: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(format!("ser-corruption|{used_for:?}|{seed}|{clip}|{index}"));
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("a SHA-256 digest has 8 bytes"))
}

/// Mean square of `x` (0 for an empty clip).
pub fn power(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64
}

/// `speech + a * noise` with `a` chosen so that `10 log10(power(speech) / power(a * noise)) = snr_db`.
pub fn add_at_snr(speech: &[f32], noise: &[f32], snr_db: f64) -> Result<Vec<f32>, CorruptError> {
    assert_eq!(speech.len(), noise.len(), "noise must be as long as the speech");
    let (speech_power, noise_power) = (power(speech), power(noise));
    if speech_power <= 0.0 {
        return Err(CorruptError::Silent);
    }
    if noise_power <= 0.0 {
        return Ok(speech.to_vec());
    }
    let scale = (speech_power / noise_power / 10f64.powf(snr_db / 10.0)).sqrt();
    Ok(speech.iter().zip(noise).map(|(&s, &n)| (s as f64 + scale * n as f64) as f32).collect())
}

/// `len` samples of unit-variance Gaussian noise.
pub fn white_noise(len: usize, rng: &mut impl Rng) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(rng)).map(|v: f64| v as f32).collect()
}

/// `len` samples of pink noise: white noise whose spectrum is multiplied by `1/sqrt(f)` (power
/// `1/f`, -3 dB per octave), the DC bin set to 0.
pub fn pink_noise(len: usize, rng: &mut impl Rng) -> Vec<f32> {
    let white = white_noise(len, rng);
    filter_spectrum(&white, |bin| if bin == 0 { 0.0 } else { 1.0 / (bin as f64).sqrt() })
}

/// The clips of other speakers that babble for a clip of `own_actor` is mixed from: up to
/// `count` distinct indices into `actors`, none of them `own_actor`'s (`ser robustness` mixes
/// [`BABBLE_TALKERS`]; training may mix others, `data::channels::BabbleTalkers`).
pub fn babble_talkers(actors: &[u32], own_actor: u32, count: usize, rng: &mut impl Rng) -> Result<Vec<usize>, CorruptError> {
    let others: Vec<usize> = (0..actors.len()).filter(|&i| actors[i] != own_actor).collect();
    if others.is_empty() {
        return Err(CorruptError::NoOtherTalkers(own_actor));
    }
    Ok(others.choose_multiple(rng, count).copied().collect())
}

/// The talkers' clips, each normalised to unit power, looped from a random start to `len`
/// samples, and summed.
fn babble_noise(talkers: &[&[f32]], len: usize, rng: &mut impl Rng) -> Result<Vec<f32>, CorruptError> {
    let talkers: Vec<&[f32]> = talkers.iter().copied().filter(|t| power(t) > 0.0).collect();
    if talkers.is_empty() {
        return Err(CorruptError::NoBabbleClips);
    }
    let mut mix = vec![0f64; len];
    for talker in talkers {
        let scale = 1.0 / power(talker).sqrt();
        let start = rng.gen_range(0..talker.len());
        for (i, m) in mix.iter_mut().enumerate() {
            *m += scale * talker[(start + i) % talker.len()] as f64;
        }
    }
    Ok(mix.into_iter().map(|v| v as f32).collect())
}

/// The telephone channel: to 8 kHz, the 300-3400 Hz band, optionally 8-bit mu-law, back to
/// `rate`; the input's length is kept.
pub fn telephone(x: &[f32], rate: u32, mu_law: bool) -> Result<Vec<f32>, CorruptError> {
    if rate < TELEPHONE_RATE {
        return Err(CorruptError::RateBelowTelephone(rate));
    }
    let resampled = |x: &[f32], from, to| resample(x, from, to).map_err(|e: AudioError| CorruptError::Resample(e.to_string()));
    let narrow = resampled(x, rate, TELEPHONE_RATE)?;
    let mut narrow = band_pass(&narrow, TELEPHONE_RATE, TELEPHONE_BAND_HZ);
    if mu_law {
        narrow = narrow.iter().map(|&v| mu_law_decode(mu_law_encode(v))).collect();
    }
    let mut wide = resampled(&narrow, TELEPHONE_RATE, rate)?;
    wide.resize(x.len(), 0.0);
    Ok(wide)
}

/// A zero-phase band-pass over the whole clip: each frequency's gain is 1 within `band`, falls
/// to 0 on a raised cosine over 100 Hz (`BAND_EDGE_HZ`) beyond each edge, and is 0 further out.
pub fn band_pass(x: &[f32], rate: u32, (low, high): (f64, f64)) -> Vec<f32> {
    let n = x.len();
    let gain_at = |f: f64| {
        let edge = |distance: f64| {
            if distance >= BAND_EDGE_HZ {
                0.0
            } else {
                0.5 * (1.0 + (std::f64::consts::PI * distance / BAND_EDGE_HZ).cos())
            }
        };
        if f < low {
            edge(low - f)
        } else if f > high {
            edge(f - high)
        } else {
            1.0
        }
    };
    filter_spectrum(x, |bin| gain_at(bin as f64 * rate as f64 / n as f64))
}

/// `x` with the spectrum multiplied by `gain(k)` at bins k and n - k (k <= n / 2): a real,
/// zero-phase filter over the whole clip.
fn filter_spectrum(x: &[f32], gain: impl Fn(usize) -> f64) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let mut planner = FftPlanner::<f64>::new();
    let mut buffer: Vec<Complex64> = x.iter().map(|&v| Complex64::new(v as f64, 0.0)).collect();
    planner.plan_fft_forward(n).process(&mut buffer);
    for (k, c) in buffer.iter_mut().enumerate() {
        *c *= gain(k.min(n - k));
    }
    planner.plan_fft_inverse(n).process(&mut buffer);
    buffer.iter().map(|c| (c.re / n as f64) as f32).collect()
}

/// G.711 mu-law: `y = sign(x) ln(1 + mu |x|) / ln(1 + mu)` for x clipped to [-1, 1], quantised
/// to one of 256 evenly spaced levels of y in [-1, 1].
pub fn mu_law_encode(x: f32) -> u8 {
    let x = (x as f64).clamp(-1.0, 1.0);
    let y = x.signum() * (1.0 + MU * x.abs()).ln() / (1.0 + MU).ln();
    ((y + 1.0) / 2.0 * MU_LAW_LEVELS).round() as u8
}

/// The sample a mu-law code stands for: the inverse of [`mu_law_encode`]'s curve at its level.
pub fn mu_law_decode(code: u8) -> f32 {
    let y = code as f64 / MU_LAW_LEVELS * 2.0 - 1.0;
    (y.signum() * ((1.0 + MU).powf(y.abs()) - 1.0) / MU) as f32
}

/// The largest round-trip error of mu-law at x: half a quantisation step of y, `h = 1 / 255`,
/// mapped back through the expansion at its steepest side: `(1 + mu |x|) ((1 + mu)^h - 1) / mu`.
pub fn mu_law_error_bound(x: f32) -> f32 {
    let h = 1.0 / MU_LAW_LEVELS;
    ((1.0 + MU * (x as f64).abs().min(1.0)) * ((1.0 + MU).powf(h) - 1.0) / MU) as f32
}

/// A room impulse response `rt60_s` seconds long: Gaussian noise times `10^(-3 t / rt60)` (the
/// energy falls 60 dB in `rt60` seconds), normalised to unit energy.
pub fn room_impulse_response(rt60_s: f64, rate: u32, rng: &mut impl Rng) -> Vec<f32> {
    let len = (rt60_s * rate as f64).ceil().max(1.0) as usize;
    let h: Vec<f64> = (0..len)
        .map(|n| {
            let noise: f64 = StandardNormal.sample(rng);
            noise * 10f64.powf(-3.0 * n as f64 / (rt60_s * rate as f64))
        })
        .collect();
    let norm = h.iter().map(|v| v * v).sum::<f64>().sqrt();
    h.into_iter().map(|v| (v / norm) as f32).collect()
}

/// The reverberation time of an impulse response by Schroeder's backward integration: the
/// energy remaining after each sample, in dB below the total, is fitted by a line between -5 and
/// -25 dB (T20), and RT60 is the time that line takes to fall 60 dB. None when the response
/// never falls 25 dB.
pub fn schroeder_rt60(h: &[f32], rate: u32) -> Option<f64> {
    let mut remaining = vec![0f64; h.len()];
    let mut sum = 0.0;
    for (i, &v) in h.iter().enumerate().rev() {
        sum += v as f64 * v as f64;
        remaining[i] = sum;
    }
    let total = *remaining.first()?;
    let points: Vec<(f64, f64)> = remaining
        .iter()
        .enumerate()
        .map(|(i, &e)| (i as f64 / rate as f64, 10.0 * (e / total).log10()))
        .filter(|&(_, db)| (-25.0..=-5.0).contains(&db))
        .collect();
    if points.len() < 2 || remaining.iter().all(|&e| 10.0 * (e / total).log10() > -25.0) {
        return None;
    }
    let n = points.len() as f64;
    let (mean_t, mean_db) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let covariance: f64 = points.iter().map(|(t, db)| (t - mean_t) * (db - mean_db)).sum();
    let variance: f64 = points.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    Some(-60.0 / (covariance / variance))
}

/// `x` convolved with `h` (by FFT), cut to `x`'s length and scaled back to `x`'s RMS.
pub fn reverberate(x: &[f32], h: &[f32]) -> Vec<f32> {
    if x.is_empty() || h.is_empty() {
        return x.to_vec();
    }
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |v: &[f32]| {
        let mut buffer: Vec<Complex64> = v.iter().map(|&s| Complex64::new(s as f64, 0.0)).collect();
        buffer.resize(n, Complex64::new(0.0, 0.0));
        forward.process(&mut buffer);
        buffer
    };
    let mut product: Vec<Complex64> = spectrum(x).iter().zip(spectrum(h)).map(|(a, b)| a * b).collect();
    inverse.process(&mut product);
    let wet: Vec<f64> = product[..x.len()].iter().map(|c| c.re / n as f64).collect();
    let wet_power = wet.iter().map(|v| v * v).sum::<f64>() / wet.len() as f64;
    let scale = if wet_power > 0.0 { (power(x) / wet_power).sqrt() } else { 0.0 };
    wet.into_iter().map(|v| (v * scale) as f32).collect()
}

/// `x` times `10^(db / 20)`, clipped to [-1, 1].
pub fn gain_and_clip(x: &[f32], db: f64) -> Vec<f32> {
    let g = 10f64.powf(db / 20.0);
    x.iter().map(|&v| (v as f64 * g).clamp(-1.0, 1.0) as f32).collect()
}
