//! Adam (Kingma & Ba 2015) with PyTorch's defaults and bias correction; AdamW when `weight_decay > 0`.
//!
//! For each parameter p with gradient g, at step t (1-based):
//!   m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
//!   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//! AdamW (Loshchilov & Hutter) first decays the weight itself: p <- p (1 - lr wd), decoupled from g.

use crate::nn::ParamRef;
use crate::Real;
use ndarray::{ArrayD, Zip};

/// Optimizer state: first and second moments per parameter, in the order the parameters are given.
#[derive(Clone, Debug)]
pub struct Adam<T> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay (AdamW); 0 gives plain Adam.
    pub weight_decay: f64,
    /// Steps taken so far.
    pub step: u64,
    /// First moments, one per parameter.
    pub m: Vec<ArrayD<T>>,
    /// Second moments, one per parameter.
    pub v: Vec<ArrayD<T>>,
}

impl<T: Real> Adam<T> {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(lr: f64) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, step: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One update of every parameter from its gradient; the parameter list must keep its order.
    pub fn update(&mut self, params: &mut [ParamRef<'_, T>]) {
        if self.m.is_empty() {
            self.m = params.iter().map(|p| ArrayD::zeros(p.value.raw_dim())).collect();
            self.v = self.m.clone();
        }
        assert_eq!(self.m.len(), params.len(), "Adam was built for {} parameters, got {}", self.m.len(), params.len());
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (T::c(self.beta1), T::c(self.beta2));
        let step_size = T::c(self.lr / (1.0 - self.beta1.powi(t)));
        let bias2_sqrt = T::c((1.0 - self.beta2.powi(t)).sqrt());
        let eps = T::c(self.eps);
        let decay = T::c(1.0 - self.lr * self.weight_decay);
        for ((p, m), v) in params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            Zip::from(&mut p.value).and(&p.grad).and(m).and(v).for_each(|w, &g, m, v| {
                *m = b1 * *m + (T::one() - b1) * g;
                *v = b2 * *v + (T::one() - b2) * g * g;
                if self.weight_decay != 0.0 {
                    *w *= decay;
                }
                *w -= step_size * *m / (v.sqrt() / bias2_sqrt + eps);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Param;
    use ndarray::array;

    #[test]
    fn two_steps_match_hand_computed_values() {
        // p0 = [1, -2], g = [0.5, -0.1] at both steps, lr 0.1.
        // Step 1: m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2 -> p -= 0.1 * g/(|g| + 1e-8) = 0.1 sign(g).
        // Step 2: m = 0.19 g, v = 0.001999 g^2; m_hat = g, v_hat = g^2 again -> another 0.1 sign(g).
        let mut p = Param::new(array![1.0f64, -2.0]);
        let mut adam = Adam::new(0.1);
        for expected in [[0.9, -1.9], [0.8, -1.8]] {
            p.grad.assign(&array![0.5, -0.1]);
            adam.update(&mut [p.as_ref()]);
            for (got, want) in p.value.iter().zip(expected) {
                assert!((got - want).abs() < 1e-7, "got {got}, want {want}");
            }
        }
        // The eps term is visible on a tiny gradient: step = 0.1 * g / (|g| + 1e-8).
        let mut q = Param::new(array![0.0f64]);
        q.grad.fill(1e-8);
        Adam::new(0.1).update(&mut [q.as_ref()]);
        assert!((q.value[0] + 0.05).abs() < 1e-9, "got {}", q.value[0]);
    }

    #[test]
    fn adamw_decays_the_weight_before_the_adam_step() {
        let mut p = Param::new(array![2.0f64]);
        p.grad.fill(0.0);
        let mut adam = Adam::new(0.1);
        adam.weight_decay = 0.5;
        adam.update(&mut [p.as_ref()]);
        // Zero gradient: only the decay acts, 2 * (1 - 0.1 * 0.5).
        assert!((p.value[0] - 1.9).abs() < 1e-12);
    }
}
