//! The two RAVDESS sentences as phone strings, and what each phone asks of the vocal tract.
//!
//! A crude but honest transcription (ARPAbet symbols, American English):
//!
//! ```text
//! statement 01  "Kids are talking by the door"   K IH D Z | AA R | T AO . K IH NG | B AY | DH AX | D AO R
//! statement 02  "Dogs are sitting by the door"   D AO G Z | AA R | S IH . T IH NG | B AY | DH AX | D AO R
//! ```
//!
//! Formant targets are an adult male tract (vowels from Hillenbrand et al. 1995, consonants are
//! the place-of-articulation "loci" their transitions point at); the renderer scales them per
//! speaker for vocal-tract length. Durations are a neutral speaking rate before stress, phrase-final
//! lengthening and the emotion's rate are applied.

/// How a phone is produced: which sources are active and how the tract is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manner {
    /// Voiced, open tract: the formants carry the sound.
    Vowel,
    /// Voiced and vowel-like but weaker (R: lowered F3).
    Approximant,
    /// Voiced through the nose: strongly damped, low amplitude.
    Nasal,
    /// Turbulent noise at a constriction, with or without voicing underneath.
    Fricative { voiced: bool },
    /// Closure, then a short noise burst at release; voiceless stops add aspiration after it.
    Stop { voiced: bool },
}

/// One phone and its targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phone {
    /// ARPAbet symbol, for debugging and tests.
    pub symbol: &'static str,
    pub manner: Manner,
    /// (F1, F2, F3) in Hz at the phone's start and end; they differ only for the diphthong AY.
    pub formants: [[f32; 3]; 2],
    /// Centre of the frication noise or release burst, Hz (male tract); 0 for sonorants.
    pub noise_centre: f32,
    /// Amplitude of that noise (sibilants strong, DH weak, voiceless bursts stronger than voiced).
    pub noise_level: f32,
    /// Intrinsic duration at a neutral rate, seconds.
    pub duration: f32,
}

const fn steady(symbol: &'static str, manner: Manner, f: [f32; 3], noise: (f32, f32), duration: f32) -> Phone {
    Phone { symbol, manner, formants: [f, f], noise_centre: noise.0, noise_level: noise.1, duration }
}

/// No noise source (sonorants).
const QUIET: (f32, f32) = (0.0, 0.0);

pub const IH: Phone = steady("IH", Manner::Vowel, [427.0, 2034.0, 2684.0], QUIET, 0.085);
pub const AA: Phone = steady("AA", Manner::Vowel, [768.0, 1333.0, 2522.0], QUIET, 0.120);
pub const AO: Phone = steady("AO", Manner::Vowel, [652.0, 997.0, 2538.0], QUIET, 0.135);
pub const AX: Phone = steady("AX", Manner::Vowel, [500.0, 1500.0, 2500.0], QUIET, 0.055);
/// The diphthong of "by": glides from AA towards IH.
pub const AY: Phone = Phone {
    symbol: "AY",
    manner: Manner::Vowel,
    formants: [[768.0, 1333.0, 2522.0], [427.0, 2034.0, 2684.0]],
    noise_centre: 0.0,
    noise_level: 0.0,
    duration: 0.150,
};
pub const R: Phone = steady("R", Manner::Approximant, [350.0, 1100.0, 1600.0], QUIET, 0.060);
pub const NG: Phone = steady("NG", Manner::Nasal, [280.0, 1900.0, 2600.0], QUIET, 0.070);
pub const S: Phone = steady("S", Manner::Fricative { voiced: false }, [300.0, 1700.0, 2600.0], (5000.0, 0.12), 0.110);
pub const Z: Phone = steady("Z", Manner::Fricative { voiced: true }, [300.0, 1700.0, 2600.0], (4800.0, 0.12), 0.075);
pub const DH: Phone = steady("DH", Manner::Fricative { voiced: true }, [300.0, 1400.0, 2500.0], (4000.0, 0.05), 0.040);
pub const T: Phone = steady("T", Manner::Stop { voiced: false }, [250.0, 1700.0, 2600.0], (4000.0, 0.4), 0.085);
pub const D: Phone = steady("D", Manner::Stop { voiced: true }, [250.0, 1700.0, 2600.0], (3800.0, 0.25), 0.065);
pub const K: Phone = steady("K", Manner::Stop { voiced: false }, [300.0, 1900.0, 2300.0], (2200.0, 0.4), 0.085);
pub const G: Phone = steady("G", Manner::Stop { voiced: true }, [300.0, 1900.0, 2300.0], (2100.0, 0.25), 0.065);
pub const B: Phone = steady("B", Manner::Stop { voiced: true }, [250.0, 900.0, 2200.0], (1000.0, 0.2), 0.065);

/// A syllable: its phones and whether it carries lexical stress (and so a pitch accent).
#[derive(Clone, Copy, Debug)]
pub struct Syllable {
    pub phones: &'static [Phone],
    pub stressed: bool,
}

/// A word and how likely a speaker is to pause after it, relative to the emotion's pause rate
/// (the boundary after the verb is the sentence's phrase break).
#[derive(Clone, Copy, Debug)]
pub struct Word {
    pub text: &'static str,
    pub syllables: &'static [Syllable],
    pub pause_weight: f32,
}

const fn word(text: &'static str, syllables: &'static [Syllable], pause_weight: f32) -> Word {
    Word { text, syllables, pause_weight }
}

const fn syl(phones: &'static [Phone], stressed: bool) -> Syllable {
    Syllable { phones, stressed }
}

/// "Kids are talking by the door".
pub const KIDS: &[Word] = &[
    word("kids", &[syl(&[K, IH, D, Z], true)], 0.2),
    word("are", &[syl(&[AA, R], false)], 0.1),
    word("talking", &[syl(&[T, AO], true), syl(&[K, IH, NG], false)], 1.0),
    word("by", &[syl(&[B, AY], false)], 0.1),
    word("the", &[syl(&[DH, AX], false)], 0.0),
    word("door", &[syl(&[D, AO, R], true)], 0.0),
];

/// "Dogs are sitting by the door".
pub const DOGS: &[Word] = &[
    word("dogs", &[syl(&[D, AO, G, Z], true)], 0.2),
    word("are", &[syl(&[AA, R], false)], 0.1),
    word("sitting", &[syl(&[S, IH], true), syl(&[T, IH, NG], false)], 1.0),
    word("by", &[syl(&[B, AY], false)], 0.1),
    word("the", &[syl(&[DH, AX], false)], 0.0),
    word("door", &[syl(&[D, AO, R], true)], 0.0),
];

/// The sentence of a RAVDESS statement code (1 or 2).
pub fn sentence(statement: u8) -> &'static [Word] {
    match statement {
        1 => KIDS,
        2 => DOGS,
        _ => panic!("statement code must be 1 or 2, got {statement}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: &[Word]) -> String {
        words.iter().map(|w| w.text).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn sentences_read_as_ravdess_statements() {
        assert_eq!(text(sentence(1)), "kids are talking by the door");
        assert_eq!(text(sentence(2)), "dogs are sitting by the door");
    }

    #[test]
    fn every_syllable_has_exactly_one_vowel_nucleus() {
        for statement in [1, 2] {
            for w in sentence(statement) {
                for s in w.syllables {
                    let vowels = s.phones.iter().filter(|p| p.manner == Manner::Vowel).count();
                    assert_eq!(vowels, 1, "word {:?}", w.text);
                }
            }
        }
    }
}
