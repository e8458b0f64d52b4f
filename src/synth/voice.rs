//! The two halves of the source-filter model: a glottal pulse train and formant resonators.
//!
//! Source: Rosenberg's (1971) glottal flow pulse. With p the phase in the period, `o` the opening
//! and `c` the closing fraction (`o + c` = open quotient):
//!
//! ```text
//! flow(p) = (1 - cos(pi p / o)) / 2        0 <= p < o        (opening)
//!         = cos(pi/2 (p - o) / c)          o <= p < o + c    (closing)
//!         = 0                              otherwise         (closed)
//! ```
//!
//! The excitation is its first difference (flow derivative, which also folds in the +6 dB/octave
//! of lip radiation). The abrupt end of the closing phase is the main excitation: a short closing
//! phase (pressed voice) gives a flat spectrum, a long one (lax, breathy voice) a steep one. Each
//! period's length and amplitude are perturbed (jitter and shimmer).
//!
//! Filter: Klatt's (1980) second-order digital resonator, with T the sample period,
//!
//! ```text
//! y[n] = a x[n] + b y[n-1] + c y[n-2]
//! c = -exp(-2 pi BW T),   b = 2 exp(-pi BW T) cos(2 pi F T),   a = 1 - b - c   (unity gain at DC)
//! ```
//!
//! Cascading one per formant gives the all-pole vowel transfer function.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

/// Fraction of the open phase spent opening (speed quotient ~2: opening is slower than closing).
const OPENING_SHARE: f64 = 0.65;

/// A Rosenberg pulse train with jitter and shimmer, advanced one sample at a time.
#[derive(Debug)]
pub struct GlottalSource {
    sample_rate: f64,
    /// Samples since the current period began.
    position: f64,
    /// Length of the current period, samples.
    period: f64,
    /// Amplitude of the current pulse.
    amplitude: f64,
    /// Open quotient of the current period.
    open_quotient: f64,
    previous_flow: f64,
}

impl GlottalSource {
    pub fn new(sample_rate: u32) -> Self {
        // position >= period starts a fresh period on the first sample.
        GlottalSource {
            sample_rate: sample_rate as f64,
            position: 1.0,
            period: 0.0,
            amplitude: 1.0,
            open_quotient: 0.6,
            previous_flow: 0.0,
        }
    }

    /// Advances one sample at fundamental `f0_hz`; returns (flow, excitation). The flow is in
    /// 0..=1 (it gates breath noise); the excitation is scaled so its closing peak is about one
    /// regardless of F0 and open quotient, which leaves loudness to the level controls.
    pub fn next(&mut self, f0_hz: f32, open_quotient: f32, jitter: f32, shimmer: f32, rng: &mut StdRng) -> (f32, f32) {
        if self.position >= self.period {
            self.position -= self.period.max(0.0);
            let jittered = 1.0 + jitter as f64 * rng.sample::<f64, _>(StandardNormal);
            self.period = (self.sample_rate / f0_hz as f64 * jittered.clamp(0.7, 1.3)).max(8.0);
            self.amplitude = (1.0 + shimmer as f64 * rng.sample::<f64, _>(StandardNormal)).clamp(0.3, 1.7);
            self.open_quotient = open_quotient as f64;
        }
        let p = self.position / self.period;
        let opening = OPENING_SHARE * self.open_quotient;
        let closing = self.open_quotient - opening;
        let flow = if p < opening {
            0.5 * (1.0 - (std::f64::consts::PI * p / opening).cos())
        } else if p < self.open_quotient {
            (std::f64::consts::FRAC_PI_2 * (p - opening) / closing).cos()
        } else {
            0.0
        } * self.amplitude;
        // The steepest closing slope is amplitude * (pi/2) / closing_samples per sample.
        let closing_samples = closing * self.period;
        let excitation = (flow - self.previous_flow) * closing_samples / std::f64::consts::FRAC_PI_2;
        self.previous_flow = flow;
        self.position += 1.0;
        (flow as f32, excitation as f32)
    }
}

/// Klatt's second-order resonator (see the module docs); coefficients may change between samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resonator {
    a: f64,
    b: f64,
    c: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    /// Retunes to centre `frequency` and `bandwidth` (Hz), keeping the filter state.
    pub fn tune(&mut self, frequency: f32, bandwidth: f32, sample_rate: u32) {
        let t = 1.0 / sample_rate as f64;
        let r = (-std::f64::consts::PI * bandwidth as f64 * t).exp();
        self.c = -r * r;
        self.b = 2.0 * r * (2.0 * std::f64::consts::PI * frequency as f64 * t).cos();
        self.a = 1.0 - self.b - self.c;
    }

    pub fn process(&mut self, x: f32) -> f32 {
        let y = self.a * x as f64 + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn resonator_passes_dc_with_unity_gain() {
        let mut r = Resonator::default();
        r.tune(500.0, 80.0, 16_000);
        let y = (0..20_000).map(|_| r.process(1.0)).last().unwrap();
        assert!((y - 1.0).abs() < 1e-4, "dc gain {y}");
    }

    #[test]
    fn resonator_peaks_at_its_centre_frequency() {
        let gain = |f: f32| {
            let mut r = Resonator::default();
            r.tune(1000.0, 100.0, 16_000);
            let w = 2.0 * std::f32::consts::PI * f / 16_000.0;
            (0..16_000).map(|n| r.process((w * n as f32).sin())).skip(8_000).fold(0.0f32, |m, y| m.max(y.abs()))
        };
        assert!(gain(1000.0) > 4.0 * gain(700.0) && gain(1000.0) > 4.0 * gain(1400.0));
    }

    #[test]
    fn glottal_pulses_repeat_at_f0_without_jitter() {
        let mut source = GlottalSource::new(16_000);
        let mut rng = StdRng::seed_from_u64(0);
        let flow: Vec<f32> = (0..1600).map(|_| source.next(100.0, 0.6, 0.0, 0.0, &mut rng).0).collect();
        // 100 Hz at 16 kHz: a period of 160 samples, open for 60 % of it.
        for n in 200..1400 {
            assert!((flow[n] - flow[n + 160]).abs() < 1e-5);
        }
        let open = flow[160..320].iter().filter(|&&f| f > 0.0).count();
        assert!((94..=97).contains(&open), "open samples {open}");
    }
}
