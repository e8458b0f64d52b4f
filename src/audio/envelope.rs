//! A bounded outline of a long signal: the peak magnitude per bin, the bins widening (two merged
//! into one) whenever there would be more than a set number, so ten hours take no more memory
//! than a minute.

/// Peak |x| per bin of `bin_samples` samples.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub sample_rate: u32,
    /// Samples per bin (a power-of-two multiple of the first width).
    pub bin_samples: u64,
    /// Peak of each complete bin.
    pub bins: Vec<f32>,
    max_bins: usize,
    /// Peak and count of the bin being filled.
    current: f32,
    in_current: u64,
}

impl Envelope {
    /// An outline of at most `max_bins` bins (at least 2) starting `bin_samples` wide.
    pub fn new(sample_rate: u32, bin_samples: u64, max_bins: usize) -> Self {
        Envelope { sample_rate, bin_samples: bin_samples.max(1), bins: Vec::new(), max_bins: max_bins.max(2), current: 0.0, in_current: 0 }
    }

    pub fn push(&mut self, samples: &[f32]) {
        for &x in samples {
            self.current = self.current.max(x.abs());
            self.in_current += 1;
            if self.in_current == self.bin_samples {
                self.bins.push(self.current);
                (self.current, self.in_current) = (0.0, 0);
                if self.bins.len() == self.max_bins {
                    self.bins = self.bins.chunks(2).map(|p| p.iter().copied().fold(0.0, f32::max)).collect();
                    self.bin_samples *= 2;
                }
            }
        }
    }

    /// The outline including the partial last bin, and the seconds per bin.
    pub fn finish(mut self) -> (Vec<f32>, f64) {
        if self.in_current > 0 {
            self.bins.push(self.current);
        }
        (self.bins, self.bin_samples as f64 / self.sample_rate as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_widen_and_keep_each_peak() {
        let mut e = Envelope::new(10, 2, 4);
        let x: Vec<f32> = (0..20).map(|i| if i == 13 { -0.9 } else { 0.1 }).collect();
        e.push(&x);
        // 20 samples: 2-wide bins fill 4 at sample 8 -> 4-wide; 4-wide bins fill 4 at 16 -> 8-wide.
        let (bins, seconds) = e.finish();
        assert_eq!(seconds, 0.8);
        assert_eq!(bins, vec![0.1, 0.9, 0.1]);
    }
}
