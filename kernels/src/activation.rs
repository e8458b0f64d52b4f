//! The LSTM's gate nonlinearities in f32 from plain arithmetic, so that a loop over a slice of them
//! vectorises (libm's `expf`/`tanhf` are opaque calls, one element at a time, and took a third of
//! a BiLSTM training step).
//!
//! Accuracy, checked against f64 libm by the tests: relative error below 3e-7 (a few ulp) on
//! every input that matters; sigmoid below -87 returns a value under 1e-37 instead of its true,
//! smaller value.
//!
//! - exp: Cody-Waite range reduction x = n ln2 + r with |r| <= ln2 / 2, Cephes' degree-6
//!   polynomial for e^r, then 2^n put straight into the exponent bits.
//! - sigmoid(x) = 1 / (1 + e^-x): accurate everywhere since e^-x is accurate relative to itself.
//! - tanh: 1 - 2 / (e^2|x| + 1) cancels for small |x|, so below 0.625 an odd polynomial
//!   (Cephes' tanhf) takes over; both are computed and one is selected, so no branch breaks
//!   the vectorised loop.

/// 1.5 * 2^23: adding it rounds an f32 of magnitude < 2^22 to an integer, which then sits in the
/// low mantissa bits (SSE2 has no vector float-to-int rounding instruction that LLVM picks by default).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// e^x for x in [-87, 88] (clamped outside, so 2^n stays a normal float).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the polynomial's coefficients as they were fitted; f32 rounds them
pub fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4; // 0.693359375, exact in 9 bits so n * LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i32;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    e_r * f32::from_bits(((n_bits + 127) << 23) as u32)
}

/// 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// tanh(x).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the polynomial's coefficients as they were fitted; f32 rounds them
pub fn tanh_f32(x: f32) -> f32 {
    let ax = x.abs();
    let large = 1.0 - 2.0 / (exp_f32(2.0 * ax) + 1.0);
    let z = ax * ax;
    let p = -5.704_988_7e-3;
    let p = p * z + 2.063_908_9e-2;
    let p = p * z - 5.373_971_6e-2;
    let p = p * z + 1.333_144_2e-1;
    let p = p * z - 3.333_328_2e-1;
    let small = p * z * ax + ax;
    let magnitude = if ax < 0.625 { small } else { large };
    magnitude.copysign(x)
}

/// Reference for [`sigmoid_f32`]: libm in f64.
pub fn sigmoid_ref(x: f32) -> f32 {
    (1.0 / (1.0 + (-(x as f64)).exp())) as f32
}

/// Reference for [`tanh_f32`]: libm in f64.
pub fn tanh_ref(x: f32) -> f32 {
    (x as f64).tanh() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs from 1e-30 to 100 in steps of about 0.1 %, both signs, plus zero and the
    /// boundaries where the formulas switch.
    fn inputs() -> Vec<f32> {
        let mut xs = vec![0.0, -0.0, 0.625, -0.625, 0.624_999_9, 87.0, -87.0, 88.0, 150.0, -150.0];
        let mut x = 1e-30f32;
        while x < 100.0 {
            xs.extend([x, -x]);
            x *= 1.001;
        }
        xs
    }

    fn relative_error(fast: f32, reference: f32) -> f64 {
        let (f, r) = (fast as f64, reference as f64);
        (f - r).abs() / r.abs().max(1e-30)
    }

    #[test]
    fn exp_is_accurate_to_a_few_ulp() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let err = relative_error(exp_f32(x), (x as f64).exp() as f32);
            assert!(err < 3e-7, "exp({x}): relative error {err:e}");
            x += 0.001_3;
        }
    }

    #[test]
    fn sigmoid_matches_reference() {
        for x in inputs() {
            let (fast, reference) = (sigmoid_f32(x), sigmoid_ref(x));
            if x < -87.0 {
                assert!(fast < 1e-37, "sigmoid({x}) = {fast}");
                continue;
            }
            let err = relative_error(fast, reference);
            assert!(err < 3e-7, "sigmoid({x}): fast {fast} vs reference {reference}, relative error {err:e}");
        }
    }

    #[test]
    fn tanh_matches_reference() {
        for x in inputs() {
            let (fast, reference) = (tanh_f32(x), tanh_ref(x));
            let err = relative_error(fast, reference);
            assert!(err < 3e-7, "tanh({x}): fast {fast} vs reference {reference}, relative error {err:e}");
            assert_eq!(fast.is_sign_negative(), x.is_sign_negative(), "tanh({x}) keeps the sign");
        }
    }
}
