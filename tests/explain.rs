//! Explanations: the eval-mode input gradient against central differences, completeness of
//! integrated gradients on realistic inputs to a trained model, and a toy task whose class lives
//! in one stretch of frames, where attribution and occlusion must both find it. One test, run
//! only when asked, measures completeness on real clips with a trained checkpoint.

mod common;

use common::uniform;
use ndarray::{s, Array1, Array2, Array3};
use ser::checkpoint::Checkpoint;
use ser::data::pipeline::{prepare_audio, DataConfig};
use ser::data::Variant;
use ser::data::{Example, InputScaling};
use ser::explain::{explain, explain_clip, Method, Quadrature, Settings};
use ser::features::{extract, FeatureConfig};
use ser::nn::model::{ModelConfig, Padding, SerModel};
use ser::train::{evaluate, Scoring, TrainConfig, Trainer};

/// BatchNorm running statistics away from PyTorch's (0, 1) start, so the eval-mode backward's
/// scaling by gamma / sqrt(running_var) is exercised.
fn set_running_stats<T: ser::Real>(model: &mut SerModel<T>, seed: u64) {
    let u = uniform(3 * 320, seed);
    model.bn.running_mean = Array1::from_shape_fn(320, |i| T::c(0.3 * u[i]));
    model.bn.running_var = Array1::from_shape_fn(320, |i| T::c(0.5 + 0.4 * u[320 + i]));
    model.bn.weight.value = Array1::from_shape_fn(320, |i| T::c(1.0 + 0.5 * u[640 + i]));
}

fn check_input_gradient(config: ModelConfig) {
    let mut model = SerModel::<f64>::new(config, 3);
    set_running_stats(&mut model, 4);
    let (b, k) = (3, 45);
    let x = Array3::from_shape_vec((b, 162, k), uniform(b * 162 * k, 5)).unwrap();
    let lengths = [45, 38, 41];
    let w = Array2::from_shape_vec((b, 8), uniform(b * 8, 6)).unwrap();
    model.zero_grad();
    let (dx, logits) = model.input_gradient(x.view(), &lengths, w.view());
    assert_eq!(logits, model.forward(x.view(), &lengths, false), "input_gradient's logits are evaluation's");
    for (name, p) in model.params() {
        assert!(p.grad.iter().all(|&g| g == 0.0), "{name}: the input gradient must leave parameter gradients alone");
    }
    // L = <w, logits> in evaluation mode (no dropout, running statistics).
    let name = format!("eval input gradient {:?}", config.padding);
    common::assert_input_grad(&name, &x, &dx, |xp| (&model.forward(xp.view(), &lengths, false) * &w).sum());
}

#[test]
fn eval_input_gradient_matches_central_differences_study_padding_with_dropout() {
    check_input_gradient(ModelConfig { dropout: true, padding: Padding::Study });
}

#[test]
fn eval_input_gradient_matches_central_differences_masked_without_dropout() {
    check_input_gradient(ModelConfig { dropout: false, padding: Padding::Masked });
}

/// Synthetic utterances' features through a standardising input map fitted on 16 of them (the
/// improved recipe's kind of input), labelled with their emotion; then 12 utterances the map
/// has not seen.
fn realistic_inputs() -> (Vec<Example>, Vec<Array2<f32>>) {
    let config = FeatureConfig::default();
    let clip = |i: u8| {
        let features = extract(&ser::synth::synthesize_clip(2, 1 + i % 24, i % 8, 1, 1 + i % 2, 1).samples, &config);
        Example::original(features, usize::from(i % 8), 1)
    };
    let raw: Vec<Example> = (0..16).map(clip).collect();
    let scaling = InputScaling::fit(&raw, true, true).unwrap();
    let train = raw.iter().map(|e| Example::original(scaling.input(e).unwrap(), e.label, 1)).collect();
    let held_out = (16..28).map(|i| scaling.input(&clip(i)).unwrap()).collect();
    (train, held_out)
}

/// Completeness: the attribution sums to `f(x) - f(b)` up to the quadrature error, and the
/// goal is 1 % for each explanation at the default settings. What decides the error is where
/// along the path the gradient jumps (ReLU and max-pooling switches), and a freshly initialised
/// model puts its jumps elsewhere than a trained one (its logits hardly move: gaps of 0.1
/// against several units), so the model here is trained, briefly, on the realistic inputs.
/// Measured: every held-out clip within 0.3 % at the default settings (both paddings); the
/// midpoint rule at 32 steps, the default before, missed it by up to 5.7 %.
#[test]
fn integrated_gradients_are_complete_to_one_percent_at_the_default_settings() {
    let (train, held_out) = realistic_inputs();
    for (seed, padding) in [(1, Padding::Masked), (2, Padding::Study)] {
        let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding }, seed);
        let mut trainer = Trainer::new(TrainConfig { epochs: 20, batch_size: 8, lr: 3e-3, seed, ..TrainConfig::default() });
        trainer.fit(&mut model, &train, &[], |_, _| Ok::<(), ser::data::CacheReadError>(())).unwrap();
        let explained = |model: &mut SerModel<f32>, x: &Array2<f32>, settings: &Settings| {
            explain(&mut [model], std::slice::from_ref(x), None, &Settings { window: x.ncols(), ..settings.clone() })
        };
        let mut worst = (0.0, 0);
        for (i, x) in held_out.iter().enumerate() {
            let e = explained(&mut model, x, &Settings::default());
            let gap = e.logit - e.baseline_logit;
            println!(
                "{padding:?}, clip {i}: logit {:.4} - baseline {:.4} = {gap:.4}, attribution sum {:.4}, completeness error {:.3e}",
                e.logit,
                e.baseline_logit,
                e.total(),
                e.completeness_error()
            );
            assert!(gap.abs() > 0.5, "the check needs the logit to move between baseline and input (gap {gap})");
            assert!(
                e.completeness_error() < 0.01,
                "{padding:?}, clip {i}: completeness error {} at the default settings",
                e.completeness_error()
            );
            if e.completeness_error() > worst.0 {
                worst = (e.completeness_error(), i);
            }
        }
        // More steps shrink the error (about as 1/N): the worst clip's, 8 times the default steps.
        let x = &held_out[worst.1];
        let finer =
            explained(&mut model, x, &Settings { steps: 8 * Settings::default().steps, ..Settings::default() }).completeness_error();
        println!("{padding:?}, clip {}: completeness error {:.3e}, {finer:.3e} with 8 times the steps", worst.1, worst.0);
        assert!(finer < worst.0, "{padding:?}: completeness error {finer} with more steps, {} with the default", worst.0);
        // Gradient x input is not complete in general: the control showing the measure can fail.
        let gxi = explained(&mut model, x, &Settings { method: Method::GradientXInput, ..Settings::default() }).completeness_error();
        println!("{padding:?}: gradient x input completeness error {gxi:.3e}");
        assert!(gxi > 0.05, "gradient x input should be far from complete: {gxi}");
    }
}

/// The measurement behind the default rule and steps (docs/explain.md, "How complete is it"):
/// every clip of `shared/ravdess-vad16k/validation/`, its predicted class explained with the
/// checkpoint in `SER_EXPLAIN_WEIGHTS`, the completeness error of each rule at 16 to 256
/// gradient evaluations. It needs the clips and a trained checkpoint, so it runs only when asked:
/// `SER_EXPLAIN_WEIGHTS=runs/X/model.safetensors cargo test --release --test explain -- --ignored --nocapture`.
#[test]
#[ignore = "needs shared/ravdess-vad16k and a trained checkpoint in SER_EXPLAIN_WEIGHTS"]
fn completeness_on_the_validation_clips_for_each_rule_and_steps() {
    let weights = std::env::var_os("SER_EXPLAIN_WEIGHTS").expect("SER_EXPLAIN_WEIGHTS: the checkpoint to explain with");
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/ravdess-vad16k/validation"))
        .find(|d| d.is_dir())
        .expect("no shared/ravdess-vad16k/validation above the checkout");
    let mut models = Checkpoint::load_ensemble(&[weights.into()]).unwrap();
    let cfg = models[0].data_config(DataConfig { augment: false, ..DataConfig::default() });
    let mut clips: Vec<_> =
        std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "wav")).collect();
    clips.sort();
    let rules = [Quadrature::Midpoint, Quadrature::Trapezoid, Quadrature::GaussLegendre, Quadrature::GradedMidpoint];
    let steps = [16, 32, 64, 128, 256];
    // errors[rule][steps]: one completeness error per clip.
    let mut errors = vec![vec![Vec::new(); steps.len()]; rules.len()];
    for clip in &clips {
        let features = extract(&prepare_audio(clip, Variant::Original, &cfg).unwrap(), &FeatureConfig::default());
        for (r, &quadrature) in rules.iter().enumerate() {
            for (n, &steps) in steps.iter().enumerate() {
                // One occlusion window: occlusion plays no part here.
                let settings = Settings { steps, quadrature, window: features.ncols(), ..Settings::default() };
                errors[r][n].push(explain_clip(&mut models, features.view(), None, &settings).completeness_error());
            }
        }
    }
    println!("{} clips of {}; completeness error: median, 90th percentile, max; clips within 1 %", clips.len(), folder.display());
    for (r, rule) in rules.iter().enumerate() {
        for (n, steps) in steps.iter().enumerate() {
            let e = &mut errors[r][n];
            e.sort_by(f64::total_cmp);
            // The nearest-rank quantile.
            let quantile = |q: f64| e[((q * e.len() as f64).ceil() as usize).clamp(1, e.len()) - 1];
            let within = e.iter().filter(|&&v| v <= 0.01).count() as f64 / e.len() as f64;
            println!(
                "{:<15} {steps:>3} steps: {:6.2} % {:6.2} % {:8.2} % {:5.1} %",
                rule.name(),
                100.0 * quantile(0.5),
                100.0 * quantile(0.9),
                100.0 * e[e.len() - 1],
                100.0 * within
            );
        }
    }
}

/// Frames where the toy task's class lives; the rest of every clip is noise.
const REGION: std::ops::Range<usize> = 24..40;
const TOY_FRAMES: usize = 64;

/// Two classes (0 and 1) marked only by the sign of a small bump over every row in frames
/// `REGION`, on unit-variance noise everywhere (small, so that the model does not saturate and a
/// window occluded changes its probabilities).
fn toy_clip(label: usize, seed: u64) -> Example {
    let mut f =
        Array2::from_shape_vec((162, TOY_FRAMES), uniform(162 * TOY_FRAMES, seed).into_iter().map(|v| (v * 1.7) as f32).collect()).unwrap();
    let sign = if label == 1 { 1.0 } else { -1.0 };
    f.slice_mut(s![.., REGION]).mapv_inplace(|v| v + 0.3 * sign);
    Example { name: format!("{label}-{seed}"), ..Example::original(f, label, 1) }
}

#[test]
fn attribution_and_occlusion_find_the_frames_that_carry_the_class() {
    let data: Vec<Example> = (0..48).map(|i| toy_clip(i % 2, 100 + i as u64)).collect();
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: false, padding: Padding::Masked }, 5);
    let mut trainer =
        Trainer::new(TrainConfig { epochs: 25, batch_size: 16, lr: 3e-3, seed: 5, label_smoothing: 0.5, ..TrainConfig::default() });
    trainer.fit(&mut model, &data, &[], |_, _| Ok::<(), anyhow::Error>(())).unwrap();
    let held_out: Vec<Example> = (0..16).map(|i| toy_clip(i % 2, 900 + i as u64)).collect();
    let accuracy = evaluate(&mut model, &held_out, &InputScaling::identity(), Scoring::SingleClip).unwrap().accuracy;
    assert!(accuracy >= 0.9, "the toy model must have learnt the task first (held-out accuracy {accuracy})");

    let (mut attribution_share, mut occlusion_share) = (0.0, 0.0);
    for clip in &held_out {
        let e = explain(&mut [&mut model], &[clip.features.load().unwrap()], Some(clip.label), &Settings::default());
        let mass = |v: &[f32], frames: std::ops::Range<usize>| v[frames].iter().map(|x| f64::from(x.abs())).sum::<f64>();
        // The per-frame curve `ser explain` draws: within a frame of noise the signs cancel.
        let per_frame = e.per_frame();
        attribution_share += mass(&per_frame, REGION) / mass(&per_frame, 0..TOY_FRAMES) / held_out.len() as f64;
        let drops = e.occlusion_per_frame();
        occlusion_share += mass(&drops, REGION) / mass(&drops, 0..TOY_FRAMES).max(1e-12) / held_out.len() as f64;
    }
    let region_share = REGION.len() as f64 / TOY_FRAMES as f64;
    println!(
        "held-out accuracy {accuracy}; mean share of |attribution| in frames {REGION:?} {attribution_share:.3}, of |occlusion drop| \
         {occlusion_share:.3} (the frames are {region_share:.2} of the clip)"
    );
    assert!(attribution_share > 0.5, "attribution puts {attribution_share:.3} of its mass on the class's frames");
    assert!(occlusion_share > 0.5, "occlusion puts {occlusion_share:.3} of its mass on the class's frames");
}
