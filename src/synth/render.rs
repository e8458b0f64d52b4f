//! From a sentence, a speaker and a style to samples.
//!
//! 1. Timeline: the sentence's phones in order, each with a duration (intrinsic duration, longer
//!    when stressed and phrase-final, divided by the speaking rate, with per-phone noise), pauses
//!    drawn at word boundaries, and a little silence at both ends (what a VAD trim leaves).
//! 2. F0 contour, semitones relative to the speaker's neutral F0:
//!    `shift + range * (declination + accents) + final movement + tremor + slow wobble`,
//!    accents being Gaussian bumps on the vowels of stressed syllables.
//! 3. Sample loop: per-phone source amplitudes (voicing, aspiration, frication) and formant
//!    targets, smoothed towards with one-pole filters (coarticulation, no clicks); voicing and
//!    aspiration go through the formant cascade, frication through its own resonator.
//! 4. Peak normalisation to a level set by vocal effort, plus a faint recording noise floor.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use super::phonetics::{Manner, Phone, Word};
use super::style::{Speaker, Style};
use super::voice::{GlottalSource, Resonator};

/// Output sample rate, Hz.
pub const SAMPLE_RATE: u32 = 16_000;

/// Vowel duration multiplier in stressed / unstressed syllables.
const STRESSED_LENGTHENING: f32 = 1.3;
const UNSTRESSED_SHORTENING: f32 = 0.85;
/// Duration multiplier on the last syllable (phrase-final lengthening).
const FINAL_LENGTHENING: f32 = 1.4;
/// Bounds on the effective speaking rate (style x speaker): keeps clips within roughly 1.5-3 s
/// however a strong emotion, an expressive actor and a fast talker stack up.
const RATE_RANGE: (f32, f32) = (0.68, 1.35);
/// Longest pause, seconds.
const MAX_PAUSE: f32 = 0.35;
/// Peak level of a neutral clip; effort moves it by level_db / 2 (the peak of louder speech grows
/// less than its effort: the ear and the recording engineer both compress).
const NEUTRAL_PEAK: f32 = 0.45;
/// Formant bandwidths (F1..F4) of a modal male voice, Hz.
const BANDWIDTHS: [f32; 4] = [80.0, 100.0, 140.0, 200.0];
/// F4 of a male tract, Hz (held fixed: it hardly moves between vowels).
const F4_HZ: f32 = 3500.0;
/// Control rate: resonator coefficients and F0 are recomputed every this many samples (1 ms).
/// Formants and pitch move far slower than that, and each update costs several exp/sin/cos.
const CONTROL_PERIOD: usize = 16;

/// One stretch of the timeline: a phone or silence.
#[derive(Clone, Copy, Debug)]
struct Segment {
    phone: Option<Phone>,
    start: usize,
    len: usize,
    /// Pitch-accent height (0 for none) if this is the vowel of a stressed syllable.
    accent: f32,
}

/// Source amplitudes and tract shape asked for at one instant.
#[derive(Clone, Copy, Debug)]
struct Controls {
    /// F1..F3, Hz.
    formants: [f32; 3],
    /// Amplitude of the glottal excitation.
    voicing: f32,
    /// Amplitude of noise fed through the formant cascade (aspiration after voiceless stops).
    aspiration: f32,
    /// Amplitude of noise fed through the frication resonator.
    frication: f32,
    /// Centre of the frication resonator, Hz.
    noise_centre: f32,
}

fn seconds_to_samples(s: f32) -> usize {
    (s * SAMPLE_RATE as f32).round().max(1.0) as usize
}

/// Length of the timeline, samples.
fn timeline_len(segments: &[Segment]) -> usize {
    segments.last().map_or(0, |s| s.start + s.len)
}

/// Lays the sentence out in time (step 1 of the module docs).
fn timeline(words: &[Word], style: &Style, speaker: &Speaker, rng: &mut StdRng) -> Vec<Segment> {
    let rate = (style.rate * speaker.rate).clamp(RATE_RANGE.0, RATE_RANGE.1);
    let mut segments = Vec::new();
    let mut cursor = 0;
    let mut push = |segments: &mut Vec<Segment>, phone: Option<Phone>, seconds: f32, accent: f32| {
        let len = seconds_to_samples(seconds);
        segments.push(Segment { phone, start: cursor, len, accent });
        cursor += len;
    };
    push(&mut segments, None, rng.gen_range(0.04..0.12), 0.0);
    let stressed_total = words.iter().flat_map(|w| w.syllables).filter(|s| s.stressed).count();
    let mut stressed_seen = 0;
    for (w, word) in words.iter().enumerate() {
        for (s, syllable) in word.syllables.iter().enumerate() {
            let is_final = w + 1 == words.len() && s + 1 == word.syllables.len();
            let accent = if syllable.stressed {
                stressed_seen += 1;
                // First accent highest, the nuclear (last) one next, any between them lower.
                let height = match stressed_seen {
                    1 => 1.0,
                    n if n == stressed_total => 0.8,
                    _ => 0.6,
                };
                height * (0.15 * rng.sample::<f32, _>(StandardNormal)).exp()
            } else {
                0.0
            };
            for phone in syllable.phones {
                let mut seconds = phone.duration / rate * (0.1 * rng.sample::<f32, _>(StandardNormal)).exp();
                let is_vowel = phone.manner == Manner::Vowel;
                if is_vowel {
                    seconds *= if syllable.stressed { STRESSED_LENGTHENING } else { UNSTRESSED_SHORTENING };
                }
                if is_final {
                    seconds *= FINAL_LENGTHENING;
                }
                push(&mut segments, Some(*phone), seconds, if is_vowel { accent } else { 0.0 });
            }
        }
        if rng.gen::<f32>() < style.pause_prob * word.pause_weight {
            let seconds = (style.pause_s * (0.3 * rng.sample::<f32, _>(StandardNormal)).exp()).min(MAX_PAUSE);
            push(&mut segments, None, seconds, 0.0);
        }
    }
    push(&mut segments, None, rng.gen_range(0.05..0.15), 0.0);
    segments
}

/// F0 in Hz at every control tick, i.e. for samples `[k * CONTROL_PERIOD, (k+1) * CONTROL_PERIOD)`
/// (step 2 of the module docs).
fn f0_contour(segments: &[Segment], style: &Style, speaker: &Speaker, rng: &mut StdRng) -> Vec<f32> {
    let total = timeline_len(segments);
    let speech_start = segments[0].len as f32;
    let speech_len = (total - segments[0].len - segments.last().unwrap().len) as f32;
    // (centre sample, width in samples, height) of each pitch accent.
    let accents: Vec<(f32, f32, f32)> = segments
        .iter()
        .filter(|s| s.accent > 0.0)
        .map(|s| {
            let width = (0.6 * s.len as f32).max(0.04 * SAMPLE_RATE as f32);
            (s.start as f32 + 0.5 * s.len as f32, width, s.accent)
        })
        .collect();
    let wobble: Vec<(f32, f32)> = (0..2).map(|_| (rng.gen_range(1.5..3.0), rng.gen_range(0.0..std::f32::consts::TAU))).collect();
    let tremor_phase = rng.gen_range(0.0..std::f32::consts::TAU);
    let tau = std::f32::consts::TAU;
    (0..total.div_ceil(CONTROL_PERIOD))
        .map(|tick| {
            let n = (tick * CONTROL_PERIOD) as f32;
            let t = n / SAMPLE_RATE as f32;
            let progress = ((n - speech_start) / speech_len).clamp(0.0, 1.0);
            let declination = 0.25 - 0.5 * progress;
            let accent: f32 =
                accents.iter().map(|&(centre, width, height)| 0.6 * height * (-0.5 * ((n - centre) / width).powi(2)).exp()).sum();
            let final_phase = ((progress - 0.8) / 0.2).clamp(0.0, 1.0);
            let final_move = style.final_st * final_phase * final_phase * (3.0 - 2.0 * final_phase);
            let tremor = style.tremor_st * (tau * 6.0 * t + tremor_phase).sin();
            let wobble: f32 = wobble.iter().map(|&(hz, phase)| 0.25 * (tau * hz * t + phase).sin()).sum();
            let semitones = style.f0_shift_st + style.f0_range_st * (declination + accent) + final_move + tremor + wobble;
            (speaker.f0_hz * (semitones / 12.0).exp2()).clamp(50.0, 600.0)
        })
        .collect()
}

/// What `phone` asks for `elapsed` seconds into a segment lasting `length` seconds, in the
/// male-tract frequencies of [`Phone`] (the caller scales them for speaker and style).
fn phone_controls(phone: &Phone, elapsed: f32, length: f32) -> Controls {
    let u = elapsed / length;
    let mut formants = [0.0; 3];
    for (k, f) in formants.iter_mut().enumerate() {
        *f = phone.formants[0][k] + u * (phone.formants[1][k] - phone.formants[0][k]);
    }
    let (voicing, aspiration, frication) = match phone.manner {
        Manner::Vowel => (1.0, 0.0, 0.0),
        Manner::Approximant => (0.7, 0.0, 0.0),
        Manner::Nasal => (0.35, 0.0, 0.0),
        Manner::Fricative { voiced } => (if voiced { 0.4 } else { 0.0 }, 0.0, phone.noise_level),
        Manner::Stop { voiced } => {
            // Closure, a ~10 ms burst at release, then aspiration (voiceless) or voicing onset.
            let closure = length * if voiced { 0.7 } else { 0.55 };
            let burst_end = closure + 0.010;
            if elapsed < closure {
                (if voiced { 0.08 } else { 0.0 }, 0.0, 0.0)
            } else if elapsed < burst_end {
                (0.0, 0.0, phone.noise_level)
            } else if voiced {
                (0.6, 0.0, 0.0)
            } else {
                (0.0, 0.3, 0.0)
            }
        }
    };
    Controls { formants, voicing, aspiration, frication, noise_centre: phone.noise_centre.max(1000.0) }
}

/// One-pole smoother coefficient for time constant `seconds`: `y += k (target - y)`.
fn smoothing(seconds: f32) -> f32 {
    1.0 - (-1.0 / (seconds * SAMPLE_RATE as f32)).exp()
}

/// Uniform noise with unit variance.
fn unit_noise(rng: &mut StdRng) -> f32 {
    rng.gen_range(-1.0f32..1.0) * 3.0f32.sqrt()
}

/// Renders one utterance (steps 1-4 of the module docs).
pub fn render(words: &[Word], style: &Style, speaker: &Speaker, rng: &mut StdRng) -> Vec<f32> {
    let segments = timeline(words, style, speaker, rng);
    let f0 = f0_contour(&segments, style, speaker, rng);
    let open_quotient = (style.open_quotient + speaker.open_quotient_offset).clamp(0.35, 0.85);
    let breathiness = style.breathiness * speaker.breathiness_scale;
    let scale = speaker.formant_scale;
    let style_scale = [style.f1_scale, style.f23_scale, style.f23_scale];
    // Breathy phonation damps the formants (energy lost through the open glottis).
    let bandwidth_widening = 1.0 + 2.0 * breathiness;

    let mut source = GlottalSource::new(SAMPLE_RATE);
    let mut cascade = [Resonator::default(); 4];
    let mut frication_filter = Resonator::default();
    let mut tilt_state = 0.0f32;
    let neutral_tract = [500.0, 1500.0, 2500.0];
    let mut now = Controls { formants: neutral_tract, voicing: 0.0, aspiration: 0.0, frication: 0.0, noise_centre: 4000.0 };
    let formant_k = smoothing(0.012);
    let amplitude_k = smoothing(0.004);

    let mut out = Vec::with_capacity(timeline_len(&segments));
    for segment in &segments {
        let length = segment.len as f32 / SAMPLE_RATE as f32;
        for i in 0..segment.len {
            // Silence lets the sources die away and holds the tract where it was.
            let target = match &segment.phone {
                Some(phone) => {
                    let asked = phone_controls(phone, i as f32 / SAMPLE_RATE as f32, length);
                    Controls {
                        formants: std::array::from_fn(|k| asked.formants[k] * scale * style_scale[k]),
                        noise_centre: asked.noise_centre * scale,
                        ..asked
                    }
                }
                None => Controls { voicing: 0.0, aspiration: 0.0, frication: 0.0, ..now },
            };
            for k in 0..3 {
                now.formants[k] += formant_k * (target.formants[k] - now.formants[k]);
            }
            now.voicing += amplitude_k * (target.voicing - now.voicing);
            now.aspiration += amplitude_k * (target.aspiration - now.aspiration);
            now.frication += amplitude_k * (target.frication - now.frication);
            now.noise_centre = target.noise_centre;

            let n = out.len();
            if n % CONTROL_PERIOD == 0 {
                for (k, resonator) in cascade.iter_mut().enumerate() {
                    let hz = if k < 3 { now.formants[k] } else { F4_HZ * scale };
                    resonator.tune(hz, BANDWIDTHS[k] * scale * bandwidth_widening, SAMPLE_RATE);
                }
                frication_filter.tune(now.noise_centre.min(7000.0), 0.4 * now.noise_centre, SAMPLE_RATE);
            }

            let (flow, excitation) = source.next(f0[n / CONTROL_PERIOD], open_quotient, style.jitter, style.shimmer, rng);
            tilt_state = (1.0 - style.tilt) * excitation + style.tilt * tilt_state;
            let breath = breathiness * unit_noise(rng) * (0.3 + flow);
            let glottal = now.voicing * (tilt_state + breath) + now.aspiration * unit_noise(rng);
            let voiced = cascade.iter_mut().fold(glottal, |x, r| r.process(x));
            let fricative = frication_filter.process(now.frication * unit_noise(rng));
            out.push(voiced + fricative);
        }
    }

    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-9);
    let level = (NEUTRAL_PEAK * 10f32.powf(style.level_db / 40.0)).clamp(0.2, 0.89);
    let noise_floor = 3e-4;
    for x in out.iter_mut() {
        *x = *x * level / peak + noise_floor * unit_noise(rng);
    }
    out
}
