//! Channel corruptions against known answers: SNR measured back from the mixture, the telephone
//! band, a generated room's RT60 by Schroeder integration, mu-law's error bound, seeds, babble's
//! talkers and the refusals.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ser::audio::corrupt::{
    add_at_snr, babble_talkers, band_pass, corrupt, corruption_seed, gain_and_clip, mu_law_decode, mu_law_encode, mu_law_error_bound,
    pink_noise, power, room_impulse_response, schroeder_rt60, telephone, white_noise, CorruptError, Corruption, NoiseKind, SeedUse,
    TELEPHONE_BAND_HZ,
};

const RATE: u32 = 16_000;

fn tone(freq: f64, seconds: f64, amplitude: f32) -> Vec<f32> {
    (0..(seconds * RATE as f64) as usize)
        .map(|i| amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / RATE as f64).sin() as f32)
        .collect()
}

/// A speech-like test signal: two tones under a slow envelope.
fn speechlike() -> Vec<f32> {
    let (a, b) = (tone(220.0, 1.5, 0.3), tone(1_300.0, 1.5, 0.1));
    a.iter().zip(&b).enumerate().map(|(i, (x, y))| (x + y) * (0.5 + 0.5 * (i as f32 / 3000.0).sin().abs())).collect()
}

fn snr_db(speech: &[f32], mixture: &[f32]) -> f64 {
    let noise: Vec<f32> = mixture.iter().zip(speech).map(|(m, s)| m - s).collect();
    10.0 * (power(speech) / power(&noise)).log10()
}

#[test]
fn noise_of_every_kind_sits_at_the_asked_snr() {
    let speech = speechlike();
    let talkers = [tone(150.0, 0.7, 0.2), tone(700.0, 2.1, 0.05), white_noise(900, &mut StdRng::seed_from_u64(1))];
    let talker_refs: Vec<&[f32]> = talkers.iter().map(Vec::as_slice).collect();
    for kind in [NoiseKind::White, NoiseKind::Pink, NoiseKind::Babble] {
        for snr in [20.0, 10.0, 5.0, -3.0] {
            let mixed = corrupt(&speech, RATE, &Corruption::Noise { kind, snr_db: snr }, 7, &talker_refs).unwrap();
            assert_eq!(mixed.len(), speech.len());
            let measured = snr_db(&speech, &mixed);
            assert!((measured - snr).abs() < 0.1, "{kind:?} at {snr} dB measured {measured} dB");
        }
    }
}

#[test]
fn pink_noise_loses_3_db_per_octave() {
    // Power in 500-1000 Hz and in 2000-4000 Hz, four times as wide: white noise has 6 dB more in
    // the upper band (the same power per hertz), pink noise the same in both (the same per
    // octave). Measured through the same filters, so their edges cancel in the difference.
    let n = 1 << 17;
    let upper_over_lower_db =
        |x: &[f32]| 10.0 * (power(&band_pass(x, RATE, (2_000.0, 4_000.0))) / power(&band_pass(x, RATE, (500.0, 1_000.0)))).log10();
    let pink = upper_over_lower_db(&pink_noise(n, &mut StdRng::seed_from_u64(3)));
    let white = upper_over_lower_db(&white_noise(n, &mut StdRng::seed_from_u64(4)));
    let per_two_octaves = white - pink;
    assert!((per_two_octaves - 6.02).abs() < 0.3, "pink falls {per_two_octaves} dB over two octaves against white (6.02)");
}

#[test]
fn the_band_pass_removes_5_khz_and_keeps_1_khz() {
    let (inside, outside) = (tone(1_000.0, 1.0, 0.5), tone(5_000.0, 1.0, 0.5));
    let kept = power(&band_pass(&inside, RATE, TELEPHONE_BAND_HZ)) / power(&inside);
    let left = power(&band_pass(&outside, RATE, TELEPHONE_BAND_HZ)) / power(&outside);
    assert!((kept - 1.0).abs() < 1e-3, "1 kHz kept {kept} of its power");
    assert!(left < 1e-6, "5 kHz kept {left} of its power");
    // Below the band too.
    let hum = tone(100.0, 1.0, 0.5);
    assert!(power(&band_pass(&hum, RATE, TELEPHONE_BAND_HZ)) / power(&hum) < 1e-6);
}

#[test]
fn the_telephone_keeps_1_khz_and_drops_5_khz_with_and_without_mu_law() {
    for mu_law in [false, true] {
        let (inside, outside) = (tone(1_000.0, 1.0, 0.5), tone(5_000.0, 1.0, 0.5));
        let through = telephone(&inside, RATE, mu_law).unwrap();
        assert_eq!(through.len(), inside.len());
        // Away from the edges, where resampling and the whole-clip filter settle.
        let middle = |x: &[f32]| x[2000..x.len() - 2000].to_vec();
        let kept = power(&middle(&through)) / power(&middle(&inside));
        assert!((kept - 1.0).abs() < 0.02, "mu-law {mu_law}: 1 kHz kept {kept}");
        let left = power(&telephone(&outside, RATE, mu_law).unwrap()) / power(&outside);
        // What is left is the resampler's residue of 5 kHz folded into the band (about -50 dB),
        // and with mu-law the coding's quantisation noise, spread over the whole band.
        let floor = if mu_law { 1e-3 } else { 1e-4 };
        assert!(left < floor, "mu-law {mu_law}: 5 kHz kept {left}");
    }
    assert!(matches!(telephone(&[0.1; 100], 4_000, false), Err(CorruptError::RateBelowTelephone(4_000))));
}

#[test]
fn mu_law_round_trips_within_its_bound_and_is_monotone() {
    let mut worst_share = 0f32;
    for i in -2000..=2000 {
        let x = i as f32 / 2000.0;
        let error = (mu_law_decode(mu_law_encode(x)) - x).abs();
        let bound = mu_law_error_bound(x);
        assert!(error <= bound * 1.0001 + 1e-7, "x {x}: error {error} > bound {bound}");
        worst_share = worst_share.max(error / bound);
    }
    // The bound is tight: some sample comes close to it.
    assert!(worst_share > 0.8, "the bound is loose: worst error is {worst_share} of it");
    let codes: Vec<u8> = (-100..=100).map(|i| mu_law_encode(i as f32 / 100.0)).collect();
    assert!(codes.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!((mu_law_encode(-1.0), mu_law_encode(1.0), mu_law_encode(3.0)), (0, 255, 255));
    // Small samples are coded far finer than 8-bit linear steps (1/128).
    assert!((mu_law_decode(mu_law_encode(0.001)) - 0.001).abs() < 2e-4);
}

#[test]
fn a_generated_room_gives_back_its_rt60() {
    for (seed, rt60) in [(1, 0.3), (2, 0.6), (3, 1.0), (4, 0.45)] {
        let h = room_impulse_response(rt60, RATE, &mut StdRng::seed_from_u64(seed));
        assert_eq!(h.len(), (rt60 * RATE as f64).ceil() as usize);
        assert!((power(&h) * h.len() as f64 - 1.0).abs() < 1e-4, "unit energy");
        let measured = schroeder_rt60(&h, RATE).unwrap();
        assert!((measured / rt60 - 1.0).abs() < 0.1, "RT60 {rt60} s measured {measured} s");
    }
    // A response that never falls 25 dB has no T20.
    assert_eq!(schroeder_rt60(&[1.0; 100], RATE), None);
}

#[test]
fn reverberation_keeps_length_and_level_and_smears_a_click() {
    let speech = speechlike();
    let wet = corrupt(&speech, RATE, &Corruption::Reverb { rt60_s: 0.6 }, 5, &[]).unwrap();
    assert_eq!(wet.len(), speech.len());
    assert!((power(&wet) / power(&speech) - 1.0).abs() < 1e-4);
    // A click becomes the room's response.
    let mut click = vec![0f32; 4000];
    click[0] = 1.0;
    let h = room_impulse_response(0.1, RATE, &mut StdRng::seed_from_u64(9));
    let smeared = ser::audio::corrupt::reverberate(&click, &h);
    let scale = smeared[10] / h[10];
    assert!(h.iter().zip(&smeared).all(|(a, b)| (a * scale - b).abs() < 1e-5));
}

#[test]
fn gain_scales_and_clips() {
    let x = [0.5f32, -0.02, 0.08];
    let louder = gain_and_clip(&x, 20.0);
    assert_eq!(louder[0], 1.0, "clipped");
    assert!((louder[1] + 0.2).abs() < 1e-6 && (louder[2] - 0.8).abs() < 1e-6);
    let quieter = corrupt(&x, RATE, &Corruption::Gain { db: -20.0 }, 0, &[]).unwrap();
    assert!((quieter[0] - 0.05).abs() < 1e-7);
}

#[test]
fn the_same_seed_gives_the_same_clip_and_another_seed_another() {
    let speech = speechlike();
    let talkers = [tone(333.0, 0.5, 0.2)];
    let refs: Vec<&[f32]> = talkers.iter().map(Vec::as_slice).collect();
    for c in [
        Corruption::Noise { kind: NoiseKind::White, snr_db: 10.0 },
        Corruption::Noise { kind: NoiseKind::Pink, snr_db: 10.0 },
        Corruption::Noise { kind: NoiseKind::Babble, snr_db: 10.0 },
        Corruption::Reverb { rt60_s: 0.3 },
    ] {
        let once = corrupt(&speech, RATE, &c, 11, &refs).unwrap();
        assert_eq!(once, corrupt(&speech, RATE, &c, 11, &refs).unwrap(), "{c:?}");
        assert_ne!(once, corrupt(&speech, RATE, &c, 12, &refs).unwrap(), "{c:?}");
    }
    // Seeds of test and training corruptions are different hashes.
    let test: Vec<u64> = (0..100).map(|i| corruption_seed(SeedUse::Test, 0, 42, i)).collect();
    assert!((0..100).all(|i| !test.contains(&corruption_seed(SeedUse::Training, 0, 42, i))));
    assert_eq!(corruption_seed(SeedUse::Test, 0, 42, 3), test[3]);
}

#[test]
fn babble_never_uses_the_clips_own_speaker() {
    let actors = [1u32, 2, 1, 3, 1, 2, 4, 4];
    for seed in 0..50 {
        let mut rng = StdRng::seed_from_u64(seed);
        for own in [1u32, 2, 4] {
            let chosen = babble_talkers(&actors, own, 4, &mut rng).unwrap();
            assert!(!chosen.is_empty() && chosen.len() <= 4);
            assert!(chosen.iter().all(|&i| actors[i] != own), "actor {own} got {chosen:?}");
            let mut distinct = chosen.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), chosen.len());
        }
    }
    assert!(matches!(babble_talkers(&[5, 5], 5, 4, &mut StdRng::seed_from_u64(0)), Err(CorruptError::NoOtherTalkers(5))));
}

#[test]
fn babble_mixes_as_many_talkers_as_asked_while_there_are_others() {
    let actors: Vec<u32> = (0..20).map(|i| 1 + i % 10).collect();
    let mut rng = StdRng::seed_from_u64(9);
    for count in [1, 4, 8, 16] {
        let mut chosen = babble_talkers(&actors, 3, count, &mut rng).unwrap();
        chosen.sort_unstable();
        chosen.dedup();
        assert_eq!(chosen.len(), count, "{count} distinct clips");
        assert!(chosen.iter().all(|&i| actors[i] != 3));
    }
    // Only 18 clips are not actor 3's: all of them, no more.
    assert_eq!(babble_talkers(&actors, 3, 19, &mut rng).unwrap().len(), 18);
}

#[test]
fn bad_arguments_are_clear_errors() {
    let speech = speechlike();
    let message = |c: Corruption, babble: &[&[f32]]| corrupt(&speech, RATE, &c, 0, babble).unwrap_err().to_string();
    assert_eq!(message(Corruption::Noise { kind: NoiseKind::White, snr_db: f64::NAN }, &[]), "SNR NaN dB is outside -30 to 60 dB");
    assert_eq!(message(Corruption::Reverb { rt60_s: 0.0 }, &[]), "RT60 0 s is outside 0.05 to 5 s");
    assert_eq!(message(Corruption::Gain { db: 100.0 }, &[]), "gain 100 dB is outside -60 to 60 dB");
    assert!(message(Corruption::Noise { kind: NoiseKind::Babble, snr_db: 10.0 }, &[]).contains("none were given"));
    let silent = vec![0f32; 1000];
    let err = add_at_snr(&silent, &white_noise(1000, &mut StdRng::seed_from_u64(0)), 10.0).unwrap_err();
    assert!(err.to_string().contains("silent"), "{err}");
}
