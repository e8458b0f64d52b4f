//! Small statistics for comparing models over seeds: mean, standard deviation, a 95 % confidence
//! interval from Student's t, a paired t-test, an exact sign test and an exact paired permutation
//! test (all two-sided).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, sample standard deviation and 95 % t-interval of a list of values.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for fewer than two values.
    pub std: f64,
    /// 95 % confidence interval of the mean (equal to the mean for fewer than two values).
    pub ci95: [f64; 2],
}

pub fn summarize(values: &[f64]) -> Summary {
    let n = values.len();
    let mean = if n == 0 { f64::NAN } else { values.iter().sum::<f64>() / n as f64 };
    let std = if n < 2 { 0.0 } else { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() };
    let half = if n < 2 { 0.0 } else { t_quantile_975(n - 1) * std / (n as f64).sqrt() };
    Summary { n, mean, std, ci95: [mean - half, mean + half] }
}

/// The outcome of comparing paired values a_i and b_i (a = dropout, b = no dropout).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairedTest {
    pub n: usize,
    /// Mean of a_i - b_i.
    pub mean_difference: f64,
    pub t: f64,
    /// Two-sided p-value of the paired t-test (NaN when undefined: n < 2 or all differences equal).
    pub t_test_p: f64,
    /// Pairs where a > b and where a < b (ties dropped by the sign test).
    pub wins: usize,
    pub losses: usize,
    /// Two-sided exact binomial p-value of the sign test.
    pub sign_test_p: f64,
    /// Two-sided exact p-value over all 2^n sign flips of the differences.
    pub permutation_p: f64,
}

pub fn paired_test(a: &[f64], b: &[f64]) -> PairedTest {
    assert_eq!(a.len(), b.len(), "paired samples must have equal lengths");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    let s = summarize(&d);
    let t = if n >= 2 && s.std > 0.0 { s.mean / (s.std / (n as f64).sqrt()) } else { f64::NAN };
    let t_test_p = if t.is_nan() { f64::NAN } else { 2.0 * student_t_sf(t.abs(), (n - 1) as f64) };
    let wins = d.iter().filter(|&&x| x > 0.0).count();
    let losses = d.iter().filter(|&&x| x < 0.0).count();
    PairedTest {
        n,
        mean_difference: s.mean,
        t,
        t_test_p,
        wins,
        losses,
        sign_test_p: sign_test(wins, losses),
        permutation_p: permutation_test(&d),
    }
}

/// Two-sided exact sign test: P(|K - m/2| >= |wins - m/2|) for K ~ Binomial(m, 1/2). The tail is
/// summed term by term (exact for the handful of seeds compared); statrs's `Binomial::cdf` goes
/// through the incomplete beta function and is a few 1e-13 off.
fn sign_test(wins: usize, losses: usize) -> f64 {
    let m = wins + losses;
    if m == 0 {
        return 1.0;
    }
    let k = wins.min(losses);
    let tail: f64 = (0..=k).map(|i| binomial(m, i)).sum::<f64>() / 2f64.powi(m as i32);
    (2.0 * tail).min(1.0)
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Two-sided exact paired permutation test on the mean difference (n up to 20).
fn permutation_test(d: &[f64]) -> f64 {
    let n = d.len();
    if n == 0 || n > 20 {
        return f64::NAN;
    }
    let observed = d.iter().sum::<f64>().abs();
    let total = 1u32 << n;
    let extreme = (0..total)
        .filter(|mask| {
            let s: f64 = d.iter().enumerate().map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x }).sum();
            s.abs() >= observed - 1e-12
        })
        .count();
    extreme as f64 / total as f64
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile_975(df: usize) -> f64 {
    students_t(df as f64).inverse_cdf(0.975)
}

/// P(T > t) for Student's t with `df` degrees of freedom.
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    students_t(df).sf(t)
}

fn students_t(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("Student's t needs degrees of freedom > 0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, q) in [(1, 12.706_204_736), (4, 2.776_445_105), (9, 2.262_157_163), (30, 2.042_272_456)] {
            assert!((t_quantile_975(df) - q).abs() < 1e-6, "df {df}: {}", t_quantile_975(df));
        }
    }

    #[test]
    fn summary_of_known_values() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.mean, 3.0);
        assert!((s.std - 2.5f64.sqrt()).abs() < 1e-12);
        let half = 2.776_445_105 * 2.5f64.sqrt() / 5f64.sqrt();
        assert!((s.ci95[1] - 3.0 - half).abs() < 1e-6);
    }

    #[test]
    fn paired_tests_match_scipy() {
        // scipy.stats.ttest_rel(a, b): statistic 2.2360679774997894, pvalue 0.08900934250008571
        let a = [0.61, 0.58, 0.63, 0.60, 0.59];
        let b = [0.57, 0.59, 0.60, 0.57, 0.58];
        let r = paired_test(&a, &b);
        assert!((r.mean_difference - 0.02).abs() < 1e-12);
        assert!((r.t - 2.236_067_977_499_789_4).abs() < 1e-9, "t {}", r.t);
        assert!((r.t_test_p - 0.089_009_342_500_085_71).abs() < 1e-9, "p {}", r.t_test_p);
        let d = [0.04, -0.01, 0.03, 0.03, 0.01];
        assert_eq!((r.wins, r.losses), (4, 1));
        // Sign test: P(K <= 1) * 2 with K ~ Bin(5, 1/2) = 2 * 6/32.
        assert!((r.sign_test_p - 0.375).abs() < 1e-12);
        // Permutation: the share of the 32 sign flips whose |sum| reaches the observed 0.10.
        let mut count = 0;
        for mask in 0..32u32 {
            let s: f64 = d.iter().enumerate().map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x }).sum();
            count += usize::from(s.abs() >= 0.1 - 1e-12);
        }
        assert!((r.permutation_p - count as f64 / 32.0).abs() < 1e-12);
    }

    #[test]
    fn student_t_survival_matches_known_values() {
        // scipy.stats.t.sf(2.0, 5) = 0.05096973941492914, t.sf(1.0, 1) = 0.25
        assert!((student_t_sf(2.0, 5.0) - 0.050_969_739_414_929_14).abs() < 1e-12);
        assert!((student_t_sf(1.0, 1.0) - 0.25).abs() < 1e-12);
    }
}
