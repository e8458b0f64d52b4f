//! Who is speaking and how they feel: the parameters the renderer reads.
//!
//! An emotion is a [`Style`]: prosody (F0 level and range, rate, pauses, final contour), effort
//! (level) and voice quality (glottal open quotient, spectral tilt, breathiness, jitter, shimmer,
//! tremor). The table follows the cross-study summaries of Banse & Scherer (1996), Juslin &
//! Laukka (2003, table 7) and Scherer (2003):
//!
//! | emotion   | F0 level | F0 range | rate | loudness | voice quality                  |
//! |-----------|----------|----------|------|----------|--------------------------------|
//! | neutral   | =        | =        | =    | =        | modal                          |
//! | calm      | -        | -        | -    | -        | lax, slightly breathy          |
//! | happy     | +        | ++       | +    | +        | modal, "smiling" formants      |
//! | sad       | -        | --       | --   | --       | breathy, steep tilt, pauses    |
//! | angry     | ++       | ++       | +    | +++      | pressed, flat tilt, wide F1    |
//! | fearful   | +++      | +        | ++   | +        | jitter, tremor, hesitations    |
//! | disgust   | -        | =        | -    | =        | some irregularity, final fall  |
//! | surprised | ++       | +++      | =    | +        | final rise                     |
//!
//! The "strong" intensity pushes every parameter further from neutral (x [`STRONG_INTENSITY`]);
//! so does a speaker's expressiveness, drawn once per actor. Each clip then adds its own noise,
//! wide enough that emotions overlap.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal};

/// Emotion class names in RAVDESS code order (class index = code - 1).
pub const EMOTION_NAMES: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// How much further from neutral the "strong" intensity goes than the "normal" one.
pub const STRONG_INTENSITY: f32 = 1.6;

/// Upper bounds on voice-quality noise: beyond them a voice turns into a whisper or a pathology.
const MAX_BREATHINESS: f32 = 0.3;
const MAX_JITTER: f32 = 0.03;
const MAX_SHIMMER: f32 = 0.12;

/// Prosody and voice quality of one utterance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Mean F0 relative to the speaker's neutral F0, semitones.
    pub f0_shift_st: f32,
    /// F0 excursion of declination plus pitch accents, semitones.
    pub f0_range_st: f32,
    /// Phrase-final F0 movement, semitones (negative: fall, positive: question-like rise).
    pub final_st: f32,
    /// Speaking-rate multiplier: phone durations are divided by it.
    pub rate: f32,
    /// Vocal effort relative to neutral, dB; sets the clip's peak level.
    pub level_db: f32,
    /// Fraction of each glottal period the glottis is open: low is pressed/tense, high is lax.
    pub open_quotient: f32,
    /// Coefficient of a one-pole low-pass on the glottal excitation (0 flat .. 1 very steep tilt).
    pub tilt: f32,
    /// Aspiration noise riding on the voicing, relative to it.
    pub breathiness: f32,
    /// Relative standard deviation of consecutive glottal period lengths.
    pub jitter: f32,
    /// Relative standard deviation of consecutive glottal pulse amplitudes.
    pub shimmer: f32,
    /// Depth of a ~6 Hz F0 tremor, semitones.
    pub tremor_st: f32,
    /// Probability of a pause at the sentence's phrase break (other boundaries are weighted).
    pub pause_prob: f32,
    /// Mean pause length, seconds.
    pub pause_s: f32,
    /// Multiplier on F1 (jaw opening: effort raises it).
    pub f1_scale: f32,
    /// Multiplier on F2 and F3 (lip spreading, as in smiling, raises them).
    pub f23_scale: f32,
}

#[allow(clippy::too_many_arguments)] // one positional argument per column of the style table below
const fn style(
    f0_shift_st: f32,
    f0_range_st: f32,
    final_st: f32,
    rate: f32,
    level_db: f32,
    open_quotient: f32,
    tilt: f32,
    breathiness: f32,
    jitter: f32,
    shimmer: f32,
    tremor_st: f32,
    pause_prob: f32,
    pause_s: f32,
    f1_scale: f32,
    f23_scale: f32,
) -> Style {
    Style {
        f0_shift_st,
        f0_range_st,
        final_st,
        rate,
        level_db,
        open_quotient,
        tilt,
        breathiness,
        jitter,
        shimmer,
        tremor_st,
        pause_prob,
        pause_s,
        f1_scale,
        f23_scale,
    }
}

/// The emotion table at normal intensity, indexed by class.
#[rustfmt::skip]
const STYLES: [Style; 8] = [
    //     shift range final rate  level  OQ    tilt  breath jitter shimmer tremor pause pause_s F1    F2,F3
    style( 0.0,  6.0, -3.0, 1.00,  0.0,  0.60, 0.35, 0.04,  0.006, 0.03,   0.0,   0.10, 0.15,  1.00, 1.00), // neutral
    style(-1.0,  4.5, -3.0, 0.90, -3.0,  0.66, 0.45, 0.08,  0.005, 0.03,   0.0,   0.15, 0.18,  0.97, 1.00), // calm
    style( 3.0,  9.0, -2.0, 1.10,  3.0,  0.55, 0.25, 0.04,  0.007, 0.035,  0.0,   0.08, 0.12,  1.05, 1.06), // happy
    style(-2.0,  2.5, -2.0, 0.78, -6.0,  0.72, 0.55, 0.14,  0.010, 0.05,   0.1,   0.40, 0.25,  0.95, 0.97), // sad
    style( 4.0,  9.0, -5.0, 1.15,  8.0,  0.42, 0.10, 0.02,  0.010, 0.05,   0.0,   0.08, 0.12,  1.10, 1.00), // angry
    style( 5.0,  7.0,  1.0, 1.20,  1.0,  0.58, 0.30, 0.08,  0.018, 0.06,   0.5,   0.35, 0.15,  1.00, 1.02), // fearful
    style(-1.5,  6.0, -5.0, 0.85,  0.0,  0.55, 0.35, 0.06,  0.012, 0.05,   0.0,   0.20, 0.20,  0.98, 0.96), // disgust
    style( 4.0, 11.0,  5.0, 1.00,  3.0,  0.55, 0.25, 0.05,  0.007, 0.035,  0.0,   0.10, 0.15,  1.05, 1.03), // surprised
];

/// `neutral + k (value - neutral)`: for parameters that add.
fn exaggerate_linear(neutral: f32, value: f32, k: f32) -> f32 {
    neutral + k * (value - neutral)
}

/// `neutral (value / neutral)^k`: for parameters that multiply (rates, scales, noise levels).
fn exaggerate_ratio(neutral: f32, value: f32, k: f32) -> f32 {
    neutral * (value / neutral).powf(k)
}

impl Style {
    /// The table entry for an emotion class (0..8) at normal intensity.
    pub fn of_emotion(emotion: u8) -> Style {
        assert!(emotion < 8, "emotion class must be 0..8, got {emotion}");
        STYLES[emotion as usize]
    }

    /// Moves every parameter k times as far from neutral as it is (k = 1 leaves it, 0 gives
    /// neutral). Voice-quality parameters stay within what a glottis can do.
    pub fn exaggerated(&self, k: f32) -> Style {
        let n = &STYLES[0];
        let lin = |n: f32, v: f32| exaggerate_linear(n, v, k);
        let ratio = |n: f32, v: f32| exaggerate_ratio(n, v, k);
        Style {
            f0_shift_st: lin(n.f0_shift_st, self.f0_shift_st),
            f0_range_st: ratio(n.f0_range_st, self.f0_range_st),
            final_st: lin(n.final_st, self.final_st),
            rate: ratio(n.rate, self.rate),
            level_db: lin(n.level_db, self.level_db),
            open_quotient: lin(n.open_quotient, self.open_quotient).clamp(0.35, 0.85),
            tilt: lin(n.tilt, self.tilt).clamp(0.0, 0.8),
            // Noise and irregularity grow linearly: as ratios (up to 4x neutral) they would
            // explode into whisper and pathological jitter.
            breathiness: lin(n.breathiness, self.breathiness).clamp(0.0, MAX_BREATHINESS),
            jitter: lin(n.jitter, self.jitter).clamp(0.0, MAX_JITTER),
            shimmer: lin(n.shimmer, self.shimmer).clamp(0.0, MAX_SHIMMER),
            tremor_st: lin(n.tremor_st, self.tremor_st).max(0.0),
            pause_prob: lin(n.pause_prob, self.pause_prob).clamp(0.0, 0.9),
            pause_s: ratio(n.pause_s, self.pause_s),
            f1_scale: ratio(n.f1_scale, self.f1_scale),
            f23_scale: ratio(n.f23_scale, self.f23_scale),
        }
    }

    /// One clip's take on the style: each parameter jittered so that clips of different emotions
    /// overlap (the same person never says a sentence the same way twice).
    pub fn varied(&self, rng: &mut StdRng) -> Style {
        let mut gauss = |sd: f32| sd * rng.sample::<f32, _>(StandardNormal);
        Style {
            f0_shift_st: self.f0_shift_st + gauss(1.2),
            f0_range_st: self.f0_range_st * gauss(0.2).exp(),
            final_st: self.final_st + gauss(1.5),
            rate: self.rate * gauss(0.07).exp(),
            level_db: self.level_db + gauss(2.0),
            open_quotient: (self.open_quotient + gauss(0.04)).clamp(0.35, 0.85),
            tilt: (self.tilt + gauss(0.06)).clamp(0.0, 0.8),
            breathiness: (self.breathiness * gauss(0.3).exp()).min(MAX_BREATHINESS),
            jitter: (self.jitter * gauss(0.3).exp()).min(MAX_JITTER),
            shimmer: (self.shimmer * gauss(0.3).exp()).min(MAX_SHIMMER),
            tremor_st: self.tremor_st * gauss(0.3).exp(),
            pause_prob: self.pause_prob,
            pause_s: self.pause_s * gauss(0.3).exp(),
            f1_scale: self.f1_scale * gauss(0.02).exp(),
            f23_scale: self.f23_scale * gauss(0.02).exp(),
        }
    }
}

/// One actor's voice: fixed across all their clips.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speaker {
    /// Neutral speaking F0, Hz.
    pub f0_hz: f32,
    /// Formant multiplier for vocal-tract length (female tracts are ~15-20 % shorter).
    pub formant_scale: f32,
    /// Habitual speaking-rate multiplier.
    pub rate: f32,
    /// How far this actor takes every emotion from neutral (multiplies the intensity factor).
    pub expressiveness: f32,
    /// Added to every style's open quotient (female voices are typically laxer).
    pub open_quotient_offset: f32,
    /// Multiplier on every style's breathiness.
    pub breathiness_scale: f32,
}

impl Speaker {
    /// The voice of RAVDESS actor `actor` (1..=24): odd actors male (low), even female (high).
    pub fn of_actor(speaker_seed: u64, actor: u8) -> Speaker {
        assert!((1..=24).contains(&actor), "actor must be 1..=24, got {actor}");
        let mut rng = StdRng::seed_from_u64(speaker_seed);
        let male = actor % 2 == 1;
        let (f0_mean, f0_sd, tract, oq, breath) = if male { (115.0, 14.0, 1.0, 0.0, 1.0) } else { (210.0, 20.0, 1.17, 0.05, 1.25) };
        let mut normal = |mean: f32, sd: f32| Normal::new(mean, sd).unwrap().sample(&mut rng);
        Speaker {
            f0_hz: normal(f0_mean, f0_sd),
            formant_scale: tract * normal(0.0, 0.04).exp(),
            rate: normal(0.0, 0.08).exp(),
            expressiveness: normal(0.0, 0.2).exp(),
            open_quotient_offset: oq + normal(0.0, 0.03),
            breathiness_scale: breath * normal(0.0, 0.3).exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exaggerating_by_one_is_identity_and_by_zero_is_neutral() {
        for e in 0..8 {
            let s = Style::of_emotion(e);
            let same = s.exaggerated(1.0);
            assert!((same.rate - s.rate).abs() < 1e-6 && (same.f0_shift_st - s.f0_shift_st).abs() < 1e-6);
            let neutral = s.exaggerated(0.0);
            assert!((neutral.rate - 1.0).abs() < 1e-6, "{}: rate {}", EMOTION_NAMES[e as usize], neutral.rate);
            assert!(neutral.level_db.abs() < 1e-6);
        }
    }

    #[test]
    fn strong_intensity_moves_away_from_neutral() {
        let sad = Style::of_emotion(3);
        let strong = sad.exaggerated(STRONG_INTENSITY);
        assert!(strong.rate < sad.rate && strong.level_db < sad.level_db && strong.f0_range_st < sad.f0_range_st);
    }

    #[test]
    fn odd_actors_are_low_voiced() {
        for actor in 1..=24u8 {
            let s = Speaker::of_actor(1000 + actor as u64, actor);
            if actor % 2 == 1 {
                assert!(s.f0_hz < 170.0, "actor {actor}: {}", s.f0_hz);
            } else {
                assert!(s.f0_hz > 150.0, "actor {actor}: {}", s.f0_hz);
            }
        }
    }
}
