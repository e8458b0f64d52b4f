//! Classification metrics: accuracy, confusion matrix, per-class precision/recall/F1, macro-F1,
//! and the study notebook's own "accuracy" (correct answers divided by the number of batches).

use serde::Serialize;

/// Everything reported for one set of predictions.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Metrics {
    pub n: usize,
    pub correct: usize,
    /// correct / n.
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    /// Mean F1 over the classes present in the true labels or the predictions.
    pub macro_f1: f64,
    /// The notebook's metric: correct / number of batches of [`NOTEBOOK_BATCH`] (a percentage in
    /// the paper; 234 correct of 360 in 4 batches printed as 58.5).
    pub notebook_metric: f64,
}

/// The notebook's evaluation batch size.
pub const NOTEBOOK_BATCH: usize = 100;

impl Metrics {
    pub fn compute(truth: &[usize], predicted: &[usize], classes: usize) -> Metrics {
        assert_eq!(truth.len(), predicted.len(), "one prediction per label");
        let n = truth.len();
        let mut confusion = vec![vec![0usize; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        let correct = (0..classes).map(|c| confusion[c][c]).sum::<usize>();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let mut precision = Vec::new();
        let mut recall = Vec::new();
        let mut f1 = Vec::new();
        let mut present = 0;
        #[allow(clippy::needless_range_loop)] // c indexes the confusion matrix by row and by column
        for c in 0..classes {
            let tp = confusion[c][c];
            let predicted_c: usize = (0..classes).map(|t| confusion[t][c]).sum();
            let actual_c: usize = confusion[c].iter().sum();
            let (p, r) = (ratio(tp, predicted_c), ratio(tp, actual_c));
            precision.push(p);
            recall.push(r);
            f1.push(if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) });
            if predicted_c + actual_c > 0 {
                present += 1;
            }
        }
        let macro_f1 = if present == 0 { 0.0 } else { f1.iter().sum::<f64>() / present as f64 };
        let batches = n.div_ceil(NOTEBOOK_BATCH);
        Metrics {
            n,
            correct,
            accuracy: ratio(correct, n),
            confusion,
            precision,
            recall,
            f1,
            macro_f1,
            notebook_metric: if batches == 0 { 0.0 } else { correct as f64 / batches as f64 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_confusion() {
        // truth 0,0,1,1,2 ; predicted 0,1,1,1,0
        let m = Metrics::compute(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        assert_eq!(m.confusion, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]);
        assert_eq!(m.correct, 3);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.precision[0] - 0.5).abs() < 1e-12 && (m.recall[0] - 0.5).abs() < 1e-12);
        assert!((m.precision[1] - 2.0 / 3.0).abs() < 1e-12 && (m.recall[1] - 1.0).abs() < 1e-12);
        assert!((m.f1[1] - 0.8).abs() < 1e-12);
        assert!((m.macro_f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn notebook_metric_divides_by_batches() {
        // The paper's 58.5: 234 correct of 360 test clips, 4 batches of 100.
        let truth = vec![0usize; 360];
        let mut pred = vec![1usize; 360];
        pred[..234].fill(0);
        let m = Metrics::compute(&truth, &pred, 8);
        assert!((m.notebook_metric - 58.5).abs() < 1e-12);
        assert!((m.accuracy - 0.65).abs() < 1e-12);
    }
}
