//! The synthetic corpus: RAVDESS naming and layout, determinism, signal sanity, and acoustic
//! checks measured on the output (autocorrelation F0, RMS, duration) that the emotions and voices
//! differ in the directions the synthesizer promises.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use ser::synth::measure::{median_f0, rms};
use ser::synth::{corpus_specs, synthesize_clip, synthesize_corpus, write_corpus, SynthClip, CORPUS_CLIPS, SAMPLE_RATE};

const SEED: u64 = 7;
const SAD: u8 = 3;
const ANGRY: u8 = 4;

/// The whole corpus, synthesized once and shared by the tests that need it.
fn corpus() -> &'static [SynthClip] {
    static CORPUS: OnceLock<Vec<SynthClip>> = OnceLock::new();
    CORPUS.get_or_init(|| synthesize_corpus(SEED))
}

fn seconds(clip: &SynthClip) -> f32 {
    clip.samples.len() as f32 / clip.sample_rate as f32
}

fn mean(xs: impl IntoIterator<Item = f32>) -> f32 {
    let (sum, n) = xs.into_iter().fold((0.0, 0), |(s, n), x| (s + x, n + 1));
    sum / n as f32
}

#[test]
fn specs_follow_ravdess_counts_and_names() {
    let specs = corpus_specs();
    assert_eq!(specs.len(), 1440);
    assert_eq!(CORPUS_CLIPS, 1440);
    let names: HashSet<String> = specs.iter().map(|s| s.file_name()).collect();
    assert_eq!(names.len(), 1440, "file names must be unique");

    let mut per_actor = HashMap::new();
    let mut per_emotion = HashMap::new();
    for s in &specs {
        *per_actor.entry(s.actor).or_insert(0) += 1;
        *per_emotion.entry(s.emotion).or_insert(0) += 1;
        if s.emotion == 0 {
            assert_eq!(s.intensity, 1, "neutral has only normal intensity");
        }
        let name = s.file_name();
        let codes: Vec<u8> = name.trim_end_matches(".wav").split('-').map(|c| c.parse().unwrap()).collect();
        assert_eq!(codes, [3, 1, s.emotion + 1, s.intensity, s.statement, s.repetition, s.actor], "{name}");
        assert!(name.split('-').all(|c| c.trim_end_matches(".wav").len() == 2), "two-digit codes: {name}");
        assert_eq!(s.folder(), format!("Actor_{:02}", s.actor));
    }
    assert_eq!(per_actor.len(), 24);
    assert!(per_actor.values().all(|&n| n == 60), "{per_actor:?}");
    for emotion in 0..8u8 {
        assert_eq!(per_emotion[&emotion], if emotion == 0 { 96 } else { 192 }, "emotion {emotion}");
    }
}

#[test]
fn write_corpus_lays_out_actor_folders_of_16_bit_wavs() {
    let dir = std::env::temp_dir().join(format!("ser-synth-test-{}", std::process::id()));
    let written = write_corpus(&dir, SEED).unwrap();
    assert_eq!(written, 1440);

    let by_name: HashMap<&str, &SynthClip> = corpus().iter().map(|c| (c.file_name.as_str(), c)).collect();
    let mut folders = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let folder = entry.unwrap().path();
        folders += 1;
        let actor: u8 = folder.file_name().unwrap().to_str().unwrap().strip_prefix("Actor_").unwrap().parse().unwrap();
        let files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 60, "{}", folder.display());
        for path in files {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(name.ends_with(&format!("-{actor:02}.wav")), "{name} is not actor {actor}'s (or a leftover temporary)");
            let mut reader = hound::WavReader::open(&path).unwrap();
            let spec = reader.spec();
            assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, SAMPLE_RATE, 16), "{name}");
            assert_eq!(spec.sample_format, hound::SampleFormat::Int);
            // The file holds the in-memory clip, quantised to 16 bits as ser's reader reads it (x 32768).
            let expected = by_name[name];
            let decoded: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
            assert_eq!(decoded.len(), expected.samples.len(), "{name}");
            let worst = decoded.iter().zip(&expected.samples).map(|(&q, &x)| (q as f32 / 32768.0 - x).abs()).fold(0.0, f32::max);
            assert!(worst <= 1.0 / 32768.0, "{name}: differs from synthesize_clip by {worst}");
        }
    }
    assert_eq!(folders, 24);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_seed_same_samples_different_seed_different_samples() {
    let a = synthesize_clip(SEED, 5, 2, 2, 1, 2);
    let b = synthesize_clip(SEED, 5, 2, 2, 1, 2);
    assert_eq!(a, b);
    let c = synthesize_clip(SEED + 1, 5, 2, 2, 1, 2);
    assert_ne!(a.samples, c.samples);
    // A clip made alone equals the same clip made inside the parallel corpus.
    let in_corpus = corpus().iter().find(|clip| clip.file_name == a.file_name).unwrap();
    assert_eq!(&a, in_corpus);
    // Repetitions are different takes, not copies.
    assert_ne!(a.samples, synthesize_clip(SEED, 5, 2, 2, 1, 1).samples);
}

#[test]
fn clips_are_finite_unclipped_and_at_a_realistic_level() {
    for clip in corpus() {
        assert!(clip.samples.iter().all(|x| x.is_finite()), "{}: NaN or infinity", clip.file_name);
        let peak = clip.samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((0.15..0.95).contains(&peak), "{}: peak {peak}", clip.file_name);
        // Speech has a crest factor of a few; an unstable resonator shows as one huge spike that
        // the peak normalisation turns into a near-silent clip.
        let crest = peak / rms(&clip.samples);
        assert!(crest < 12.0, "{}: crest factor {crest}", clip.file_name);
    }
}

#[test]
fn durations_are_sentence_length_with_little_silence_around() {
    let durations: Vec<f32> = corpus().iter().map(seconds).collect();
    for (clip, &s) in corpus().iter().zip(&durations) {
        assert!((1.2..4.5).contains(&s), "{}: {s} s", clip.file_name);
    }
    let typical = mean(durations.iter().copied());
    assert!((1.6..2.5).contains(&typical), "mean duration {typical} s");

    // Speech (a 20 ms frame within 30 dB of the loudest) starts and ends close to the clip's ends.
    for clip in corpus().iter().step_by(7) {
        let frames: Vec<f32> = clip.samples.chunks(320).map(rms).collect();
        let loudest = frames.iter().cloned().fold(0.0, f32::max);
        let speech: Vec<usize> = (0..frames.len()).filter(|&t| frames[t] > 0.03 * loudest).collect();
        let lead = speech[0] as f32 * 0.02;
        let trail = (frames.len() - 1 - speech[speech.len() - 1]) as f32 * 0.02;
        assert!(lead < 0.25 && trail < 0.25, "{}: {lead} s before, {trail} s after", clip.file_name);
    }
}

#[test]
fn female_actors_have_higher_f0_than_male_actors() {
    // Neutral clips of every actor; odd actors are male.
    let (mut male, mut female) = (Vec::new(), Vec::new());
    for clip in corpus().iter().filter(|c| c.emotion == 0 && c.repetition == 1) {
        let f0 = median_f0(&clip.samples).unwrap_or_else(|| panic!("{}: no voiced frame", clip.file_name));
        if clip.actor % 2 == 1 {
            male.push(f0)
        } else {
            female.push(f0)
        }
    }
    let (male, female) = (mean(male), mean(female));
    println!("mean of median F0 over neutral clips: male {male:.1} Hz, female {female:.1} Hz");
    assert!((85.0..170.0).contains(&male), "male {male}");
    assert!((165.0..300.0).contains(&female), "female {female}");
    assert!(female > 1.5 * male);
}

/// Per actor, the mean of `measure` over the clips of `emotion`.
fn per_actor_mean(emotion: u8, measure: fn(&SynthClip) -> f32) -> Vec<f32> {
    (1..=24u8).map(|actor| mean(corpus().iter().filter(|c| c.actor == actor && c.emotion == emotion).map(measure))).collect()
}

#[test]
fn angry_is_louder_than_sad_for_the_same_actor() {
    let loudness = |c: &SynthClip| rms(&c.samples);
    let (angry, sad) = (per_actor_mean(ANGRY, loudness), per_actor_mean(SAD, loudness));
    let louder = angry.iter().zip(&sad).filter(|(a, s)| a > s).count();
    println!("mean RMS angry {:.4}, sad {:.4}; angry louder for {louder}/24 actors", mean(angry.clone()), mean(sad.clone()));
    assert!(louder >= 20, "angry louder than sad for only {louder} of 24 actors");
    assert!(mean(angry) > 1.5 * mean(sad));
}

#[test]
fn sad_is_slower_than_angry() {
    let (angry, sad) = (per_actor_mean(ANGRY, seconds), per_actor_mean(SAD, seconds));
    let slower = angry.iter().zip(&sad).filter(|(a, s)| s > a).count();
    println!("mean duration angry {:.2} s, sad {:.2} s; sad longer for {slower}/24 actors", mean(angry.clone()), mean(sad.clone()));
    assert!(slower >= 20, "sad longer than angry for only {slower} of 24 actors");
    assert!(mean(sad) > 1.2 * mean(angry));
}
