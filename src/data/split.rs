//! Train/validation/test splits: by file (the study's seeded 60/15/25) or by speaker.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Indices of each part of a split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Shuffles `0..n` with the seed and cuts it 60/15/25 (rounded; test takes the remainder).
pub fn split_files(n: usize, seed: u64) -> Split {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    let n_train = (n as f64 * 0.60).round() as usize;
    let n_val = ((n as f64 * 0.15).round() as usize).min(n - n_train);
    let mut split =
        Split { train: idx[..n_train].to_vec(), val: idx[n_train..n_train + n_val].to_vec(), test: idx[n_train + n_val..].to_vec() };
    for part in [&mut split.train, &mut split.val, &mut split.test] {
        part.sort_unstable();
    }
    split
}

/// Speaker-independent split: the distinct actors are shuffled with the seed and dealt 14/24,
/// 4/24 and 6/24 of them (at least one each when there are three or more), so that no voice is
/// heard in two parts. `actors[i]` is clip i's actor.
pub fn split_speakers(actors: &[u32], seed: u64) -> Split {
    let mut ids: Vec<u32> = actors.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.shuffle(&mut StdRng::seed_from_u64(seed));
    let n = ids.len();
    let n_test = ((n as f64 * 6.0 / 24.0).round() as usize).max(usize::from(n >= 3));
    let n_val = ((n as f64 * 4.0 / 24.0).round() as usize).max(usize::from(n >= 3));
    let (test_ids, rest) = ids.split_at(n_test.min(n));
    let (val_ids, _train_ids) = rest.split_at(n_val.min(rest.len()));
    let mut split = Split::default();
    for (i, a) in actors.iter().enumerate() {
        if test_ids.contains(a) {
            split.test.push(i);
        } else if val_ids.contains(a) {
            split.val.push(i);
        } else {
            split.train.push(i);
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_split_is_60_15_25_disjoint_and_seeded() {
        let s = split_files(1080, 7);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (648, 162, 270));
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1080).collect::<Vec<_>>());
        assert_eq!(s, split_files(1080, 7));
        assert_ne!(s, split_files(1080, 8));
    }

    #[test]
    fn speaker_split_keeps_each_actor_in_one_part() {
        let actors: Vec<u32> = (0..1440).map(|i| (i % 24) as u32 + 1).collect();
        let s = split_speakers(&actors, 3);
        let part_actors = |p: &[usize]| {
            let mut a: Vec<u32> = p.iter().map(|&i| actors[i]).collect();
            a.sort_unstable();
            a.dedup();
            a
        };
        let (tr, va, te) = (part_actors(&s.train), part_actors(&s.val), part_actors(&s.test));
        assert_eq!((tr.len(), va.len(), te.len()), (14, 4, 6));
        assert!(tr.iter().all(|a| !va.contains(a) && !te.contains(a)));
        assert!(va.iter().all(|a| !te.contains(a)));
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), 1440);
    }
}
