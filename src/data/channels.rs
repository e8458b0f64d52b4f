//! The channels that corrupted training copies go through: six kinds (white, pink and babble
//! noise, the telephone, a room, a gain), each drawn from ranges around (not on) the grid that
//! `ser robustness` tests, and how often each kind is drawn ([`ChannelMix`]).

use crate::audio::corrupt::{Corruption, NoiseKind, BABBLE_TALKERS, MAX_BABBLE_TALKERS};
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The kinds of training channel, in the order [`ChannelMix::weights`] lists them.
pub const CHANNEL_KINDS: [&str; 6] = ["white", "pink", "babble", "telephone", "reverb", "gain"];

/// The largest weight one kind may have: enough to make it all but certain, small enough that
/// a typo (a seed pasted in) is caught.
pub const MAX_CHANNEL_WEIGHT: u32 = 100;

/// Relative weights of the six kinds of training channel; a kind of weight 0 is never drawn.
/// Even weights (the default, every kind as likely) draw exactly as before weights existed, so
/// the copies cached then stay valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMix {
    pub white: u32,
    pub pink: u32,
    pub babble: u32,
    pub telephone: u32,
    pub reverb: u32,
    pub gain: u32,
}

impl Default for ChannelMix {
    fn default() -> Self {
        ChannelMix { white: 1, pink: 1, babble: 1, telephone: 1, reverb: 1, gain: 1 }
    }
}

impl ChannelMix {
    /// The weights in the order of [`CHANNEL_KINDS`].
    pub fn weights(&self) -> [u32; 6] {
        [self.white, self.pink, self.babble, self.telephone, self.reverb, self.gain]
    }

    /// Every kind as likely.
    pub fn is_even(&self) -> bool {
        let w = self.weights();
        w.iter().all(|&x| x == w[0])
    }

    /// `kind=weight` pairs such as `babble=3,telephone=3`; kinds not named keep weight 1. The
    /// error says which pair is wrong and why.
    pub fn parse(text: &str) -> Result<ChannelMix, String> {
        let mut weights = ChannelMix::default().weights();
        let mut named = [false; 6];
        for pair in text.split(',').map(str::trim) {
            let Some((kind, weight)) = pair.split_once('=') else {
                return Err(format!("'{pair}' is not kind=weight (kinds: {})", CHANNEL_KINDS.join(", ")));
            };
            let (kind, weight) = (kind.trim(), weight.trim());
            let Some(k) = CHANNEL_KINDS.iter().position(|&name| name == kind) else {
                return Err(format!("'{kind}' is not a kind of channel (kinds: {})", CHANNEL_KINDS.join(", ")));
            };
            if named[k] {
                return Err(format!("{kind} is given twice"));
            }
            named[k] = true;
            weights[k] = match weight.parse::<u32>() {
                Ok(w) if w <= MAX_CHANNEL_WEIGHT => w,
                _ => return Err(format!("{kind}'s weight '{weight}' is not a whole number from 0 to {MAX_CHANNEL_WEIGHT}")),
            };
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("every kind has weight 0, so no channel could be drawn".into());
        }
        let [white, pink, babble, telephone, reverb, gain] = weights;
        Ok(ChannelMix { white, pink, babble, telephone, reverb, gain })
    }

    /// `kind=weight` for every kind, as [`ChannelMix::parse`] reads it back.
    pub fn describe(&self) -> String {
        CHANNEL_KINDS.iter().zip(self.weights()).map(|(kind, w)| format!("{kind}={w}")).collect::<Vec<_>>().join(",")
    }
}

/// How many talkers each training babble mixes: a number drawn uniformly from `min` to `max`
/// per copy. The default (4 to 4, what `ser robustness` tests with) draws no number, so the
/// copies cached before the range existed stay valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BabbleTalkers {
    pub min: usize,
    pub max: usize,
}

impl Default for BabbleTalkers {
    fn default() -> Self {
        BabbleTalkers { min: BABBLE_TALKERS, max: BABBLE_TALKERS }
    }
}

impl BabbleTalkers {
    /// `N` or `MIN-MAX`, each from 1 to [`MAX_BABBLE_TALKERS`]; the error says what is wrong.
    pub fn parse(text: &str) -> Result<BabbleTalkers, String> {
        let number = |t: &str| match t.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_BABBLE_TALKERS).contains(&n) => Ok(n),
            _ => Err(format!("'{}' is not a number of talkers from 1 to {MAX_BABBLE_TALKERS}", t.trim())),
        };
        let (min, max) = match text.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(text)?, number(text)?),
        };
        if min > max {
            return Err(format!("'{}' runs from more talkers to fewer; write MIN-MAX", text.trim()));
        }
        Ok(BabbleTalkers { min, max })
    }

    /// `N` or `MIN-MAX`, as [`BabbleTalkers::parse`] reads it back.
    pub fn describe(&self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}-{}", self.min, self.max)
        }
    }

    /// The talkers of one babble: drawn with `rng` when the range has more than one number.
    pub fn draw(&self, rng: &mut impl Rng) -> usize {
        if self.min == self.max {
            self.min
        } else {
            rng.gen_range(self.min..=self.max)
        }
    }
}

/// The channel of one corrupted training copy: a kind drawn by `mix`, then white, pink or
/// babble noise (other training speakers) at an SNR uniform in 0-30 dB, the telephone with or
/// without mu-law, a room with RT60 uniform in 0.2-1.2 s, or a gain uniform in ±24 dB.
pub fn training_channel(mix: &ChannelMix, rng: &mut impl Rng) -> Corruption {
    let kind = if mix.is_even() {
        // An i32, as drawn before weights existed: a usize range draws other kinds from the same seed.
        rng.gen_range(0..CHANNEL_KINDS.len() as i32) as usize
    } else {
        WeightedIndex::new(mix.weights()).expect("a parsed mix has a weight above 0").sample(rng)
    };
    match kind {
        0 => Corruption::Noise { kind: NoiseKind::White, snr_db: rng.gen_range(0.0..30.0) },
        1 => Corruption::Noise { kind: NoiseKind::Pink, snr_db: rng.gen_range(0.0..30.0) },
        2 => Corruption::Noise { kind: NoiseKind::Babble, snr_db: rng.gen_range(0.0..30.0) },
        3 => Corruption::Telephone { mu_law: rng.gen_bool(0.5) },
        4 => Corruption::Reverb { rt60_s: rng.gen_range(0.2..1.2) },
        _ => Corruption::Gain { db: rng.gen_range(-24.0..24.0) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn kind_index(c: &Corruption) -> usize {
        match c {
            Corruption::Noise { kind: NoiseKind::White, .. } => 0,
            Corruption::Noise { kind: NoiseKind::Pink, .. } => 1,
            Corruption::Noise { kind: NoiseKind::Babble, .. } => 2,
            Corruption::Telephone { .. } => 3,
            Corruption::Reverb { .. } => 4,
            Corruption::Gain { .. } => 5,
        }
    }

    /// How often each kind comes out of `draws` channels drawn under `mix`.
    fn kind_shares(mix: &ChannelMix, draws: usize) -> [f64; 6] {
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0usize; 6];
        for _ in 0..draws {
            counts[kind_index(&training_channel(mix, &mut rng))] += 1;
        }
        counts.map(|c| c as f64 / draws as f64)
    }

    #[test]
    fn weights_set_how_often_each_kind_is_drawn() {
        let mix = ChannelMix::parse("babble=3,telephone=3,gain=0").unwrap();
        assert_eq!(mix.weights(), [1, 1, 3, 3, 1, 0]);
        let shares = kind_shares(&mix, 20_000);
        for (share, w) in shares.iter().zip(mix.weights()) {
            // 1 of 9 has a standard error of 0.0022 over 20 000 draws; 3 of 9, 0.0033.
            assert!((share - w as f64 / 9.0).abs() < 0.012, "{shares:?}");
        }
        for share in kind_shares(&ChannelMix::default(), 20_000) {
            assert!((share - 1.0 / 6.0).abs() < 0.012);
        }
    }

    #[test]
    fn even_weights_draw_as_the_channels_cached_before_weights() {
        // The draw of the copies cached before weights existed: a kind uniform over six, then its
        // severity (one u64 for every kind) from the same generator.
        let before = |rng: &mut StdRng| {
            let kind: i32 = rng.gen_range(0..6);
            (kind as usize, rng.gen::<u64>())
        };
        let (mut a, mut b) = (StdRng::seed_from_u64(11), StdRng::seed_from_u64(11));
        let doubled = ChannelMix::parse("white=2,pink=2,babble=2,telephone=2,reverb=2,gain=2").unwrap();
        for mix in [ChannelMix::default(), doubled] {
            for _ in 0..200 {
                let (kind, _) = before(&mut a);
                assert_eq!(kind_index(&training_channel(&mix, &mut b)), kind);
            }
        }
    }

    #[test]
    fn babble_talkers_read_back_what_they_describe_draw_within_their_range_and_bad_ones_say_why() {
        for text in ["4", "2-8", "1-16"] {
            assert_eq!(BabbleTalkers::parse(text).unwrap().describe(), text);
        }
        assert_eq!(BabbleTalkers::parse(" 3 - 5 "), Ok(BabbleTalkers { min: 3, max: 5 }));
        let range = BabbleTalkers::parse("2-8").unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = [0usize; MAX_BABBLE_TALKERS + 1];
        for _ in 0..7000 {
            seen[range.draw(&mut rng)] += 1;
        }
        assert!(seen[2..=8].iter().all(|&n| (800..1200).contains(&n)) && seen.iter().sum::<usize>() == 7000, "{seen:?}");
        // The default draws nothing: the generator goes on as if no count had been drawn.
        let (mut a, mut b) = (StdRng::seed_from_u64(5), StdRng::seed_from_u64(5));
        assert_eq!(BabbleTalkers::default().draw(&mut a), BABBLE_TALKERS);
        assert_eq!(a.gen::<u64>(), b.gen::<u64>());
        let refused = |text: &str| BabbleTalkers::parse(text).unwrap_err();
        assert!(refused("0").contains("'0' is not a number of talkers from 1 to 16"));
        assert!(refused("17").contains("from 1 to 16"));
        assert!(refused("two").contains("'two' is not a number"));
        assert!(refused("8-2").contains("runs from more talkers to fewer"));
        assert!(refused("2-").contains("'' is not a number"));
    }

    #[test]
    fn a_mix_reads_back_what_it_describes_and_bad_ones_say_why() {
        let mix = ChannelMix::parse(" babble = 4 , reverb=0").unwrap();
        assert_eq!(ChannelMix::parse(&mix.describe()), Ok(mix));
        assert_eq!(mix.describe(), "white=1,pink=1,babble=4,telephone=1,reverb=0,gain=1");
        let refused = |text: &str| ChannelMix::parse(text).unwrap_err();
        assert!(refused("babble").starts_with("'babble' is not kind=weight"));
        assert!(refused("noise=2").starts_with("'noise' is not a kind of channel (kinds: white, pink"));
        assert!(refused("babble=2,babble=3").contains("babble is given twice"));
        assert!(refused("babble=-1").contains("babble's weight '-1' is not a whole number from 0 to 100"));
        assert!(refused("babble=1.5").contains("'1.5' is not a whole number"));
        assert!(refused("babble=101").contains("from 0 to 100"));
        assert!(refused("").starts_with("'' is not kind=weight"));
        assert!(refused("white=0,pink=0,babble=0,telephone=0,reverb=0,gain=0").contains("no channel could be drawn"));
    }
}
