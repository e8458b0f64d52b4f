//! Real channels end to end on synthetic clips: `ser robustness` and its report, the band a
//! checkpoint records and the warnings of `eval` and `predict` about narrower clips, the
//! telephone band and the Wiener filter as training switches, and corrupted training copies.

use rand::rngs::StdRng;
use rand::SeedableRng;
use ser::audio::corrupt::{add_at_snr, band_pass, power, white_noise};
use ser::audio::enhance::wiener;
use ser::audio::{write_wav, Audio};
use ser::checkpoint::{self, Checkpoint, META_BAND, META_ENHANCEMENT};
use ser::data::channels::{BabbleTalkers, ChannelMix};
use ser::data::pipeline::{self, Band, DataConfig, Enhancement, Layout};
use ser::data::{Example, Variant};
use ser::nn::model::{ModelConfig, Padding, SerModel};
use std::path::{Path, PathBuf};

mod common;
use common::{ser, temp_dir};

/// Two synthetic clips of each of four emotions from each of actors 1-3, RAVDESS-named, 16 kHz.
fn write_clips(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for emotion in [0u8, 2, 3, 4] {
        for actor in 1..=3u8 {
            for statement in 1..=2u8 {
                let clip = ser::synth::synthesize_clip(2, actor, emotion, 1, statement, 1);
                write_wav(&dir.join(&clip.file_name), &Audio { samples: clip.samples, sample_rate: 16_000 }).unwrap();
            }
        }
    }
}

fn save_model(path: &Path, band: Option<&str>) {
    save_model_with(path, band.map(|b| (META_BAND, b)).into_iter().collect());
}

/// A model of random weights with these metadata entries.
fn save_model_with(path: &Path, meta: Vec<(&str, &str)>) {
    let mut model = SerModel::<f32>::new(ModelConfig { dropout: true, padding: Padding::Masked }, 5);
    checkpoint::save(&mut model, path, meta.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap();
}

fn config(band: Band, channel_copies: usize, cache: Option<PathBuf>) -> DataConfig {
    DataConfig { layout: Layout::Pool, channel_copies, band, cache_dir: cache, ..DataConfig::default() }
}

/// An example's feature matrix, wherever it is.
fn matrix(e: &Example) -> ndarray::Array2<f32> {
    e.features.load().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn robustness_scores_the_grid_beside_the_clean_figure_that_eval_gives() {
    let root = temp_dir("report");
    let data = root.join("clips");
    write_clips(&data);
    let weights = root.join("m.safetensors");
    save_model(&weights, None);
    let out = root.join("out");
    let (ok, stdout, stderr) = ser(&["robustness", "--weights", s(&weights), "--data", s(&data), "--no-cache", "--out", s(&out)]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("24 clips"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("robustness.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = report["conditions"].as_array().unwrap().iter().map(|c| c["corruption"].as_str().unwrap()).collect();
    let mut expected = Vec::new();
    for kind in ["noise-white", "noise-pink", "noise-babble"] {
        expected.extend([kind; 3]);
    }
    expected.extend(["telephone", "telephone-mulaw", "reverb", "reverb", "reverb", "gain", "gain"]);
    assert_eq!(kinds, expected);
    for c in report["conditions"].as_array().unwrap() {
        let (accuracy, change) = (c["accuracy"].as_f64().unwrap(), c["change_points"].as_f64().unwrap());
        assert!((100.0 * (accuracy - report["clean_accuracy"].as_f64().unwrap()) - change).abs() < 1e-9);
        assert!(c["severity"].is_string() && c["setting"].is_object() && c["macro_f1"].is_number(), "{c}");
    }
    assert_eq!(report["band"], "wideband");
    let md = std::fs::read_to_string(out.join("robustness.md")).unwrap();
    assert!(md.contains("| noise-babble | SNR 5 dB |"), "{md}");
    let svg = std::fs::read_to_string(out.join("robustness.svg")).unwrap();
    assert!(svg.contains("reverb (RT60 0.3 s / RT60 0.6 s / RT60 1 s)"), "the legend names the severities");

    // The clean figure is eval's one-clip-at-a-time accuracy on the same clips.
    let (ok, eval_out, stderr) = ser(&["eval", "--weights", s(&weights), "--data", s(&data), "--no-cache"]);
    assert!(ok, "{stderr}");
    let clean = format!("{:.2} % one clip at a time", 100.0 * report["clean_accuracy"].as_f64().unwrap());
    assert!(eval_out.contains(&clean), "eval: {eval_out}\nrobustness clean: {clean}");

    // The same corruption seed gives the same report; the figures do not depend on the run.
    let again = root.join("again");
    assert!(ser(&["robustness", "--weights", s(&weights), "--data", s(&data), "--no-cache", "--out", s(&again)]).0);
    let second: serde_json::Value = serde_json::from_slice(&std::fs::read(again.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(report["conditions"], second["conditions"]);
    assert_eq!((report["babble_talkers"].as_u64(), second["babble_talkers"].as_u64()), (Some(4), Some(4)));

    // Babble of one talker is asked for, recorded and said (how many talkers a babble mixes:
    // tests/corrupt.rs).
    let one = root.join("one-talker");
    let args = ["robustness", "--weights", s(&weights), "--data", s(&data), "--no-cache", "--babble-talkers", "1", "--out", s(&one)];
    assert!(ser(&args).0);
    let third: serde_json::Value = serde_json::from_slice(&std::fs::read(one.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(third["babble_talkers"], 1);
    assert!(std::fs::read_to_string(one.join("robustness.md")).unwrap().contains("babble of 1 talker."));
}

#[test]
fn robustness_scores_the_clips_of_a_labels_csv_without_babble() {
    let root = temp_dir("labels");
    let data = root.join("clips");
    write_clips(&data);
    let mut names: Vec<String> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let csv = root.join("labels.csv");
    let rows: String =
        names.iter().take(5).enumerate().map(|(i, n)| format!("{n},angry,{}\n", if i < 3 { "train" } else { "test" })).collect();
    std::fs::write(&csv, format!("file,emotion,split\n{rows}")).unwrap();
    let weights = root.join("m.safetensors");
    save_model(&weights, None);
    let out = root.join("out");
    let (ok, _, stderr) =
        ser(&["robustness", "--weights", s(&weights), "--data", s(&data), "--labels", s(&csv), "--no-cache", "--out", s(&out)]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("babble is left out"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(report["clips"], 5);
    let kinds: Vec<&str> = report["conditions"].as_array().unwrap().iter().map(|c| c["corruption"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 13);
    assert!(!kinds.contains(&"noise-babble"));
    // --part takes the CSV's split column.
    let test_part = root.join("test-part");
    let (ok, _, stderr) = ser(&[
        "robustness",
        "--weights",
        s(&weights),
        "--data",
        s(&data),
        "--labels",
        s(&csv),
        "--part",
        "test",
        "--no-cache",
        "--out",
        s(&test_part),
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(test_part.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(report["clips"], 2);
}

#[test]
fn robustness_refuses_bad_input_with_one_clear_error() {
    let root = temp_dir("bad");
    let data = root.join("clips");
    write_clips(&data);
    let weights = root.join("m.safetensors");
    save_model(&weights, None);
    let missing = root.join("nothing.safetensors");
    let (ok, _, stderr) = ser(&["robustness", "--weights", s(&missing), "--data", s(&data), "--no-cache"]);
    assert!(!ok && stderr.starts_with("error: ") && stderr.contains("nothing.safetensors"), "{stderr}");
    let (ok, _, stderr) = ser(&["robustness", "--weights", s(&weights), "--data", s(&root.join("none")), "--no-cache"]);
    assert!(!ok && stderr.contains("the data folder does not exist"), "{stderr}");
    let (ok, _, stderr) = ser(&["robustness", "--weights", s(&weights), "--data", s(&data), "--no-cache", "--babble-talkers", "0"]);
    assert!(!ok && stderr.starts_with("error: --babble-talkers takes the talkers of each babble, 1 to 16; got 0"), "{stderr}");
    // One speaker only: babble has nobody else to mix.
    let lonely = root.join("lonely");
    std::fs::create_dir_all(&lonely).unwrap();
    for f in std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).filter(|p| s(p).ends_with("-01.wav")) {
        std::fs::copy(&f, lonely.join(f.file_name().unwrap())).unwrap();
    }
    let (ok, _, stderr) = ser(&["robustness", "--weights", s(&weights), "--data", s(&lonely), "--no-cache", "--out", s(&root.join("o"))]);
    assert!(!ok && stderr.contains("babble needs clips of other speakers than actor 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn eval_and_predict_warn_when_clips_are_narrower_than_the_models_band() {
    let root = temp_dir("band");
    let data = root.join("clips");
    write_clips(&data);
    let narrow = root.join("narrow");
    std::fs::create_dir_all(&narrow).unwrap();
    let clip = ser::synth::synthesize_clip(2, 5, 3, 1, 1, 1);
    let at_8k = ser::audio::resample(&clip.samples, 16_000, 8_000).unwrap();
    let call = narrow.join(&clip.file_name);
    write_wav(&call, &Audio { samples: at_8k, sample_rate: 8_000 }).unwrap();
    let (wide, phone) = (root.join("wide.safetensors"), root.join("phone.safetensors"));
    save_model(&wide, None);
    save_model(&phone, Some("telephone"));

    let (ok, _, stderr) = ser(&["predict", "--weights", s(&wide), s(&call)]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: 1 of 1 clips") && stderr.contains("sampled at 8000 Hz") && stderr.contains("(wideband, up to 8000 Hz)"),
        "{stderr}"
    );
    let (ok, _, stderr) = ser(&["eval", "--weights", s(&wide), "--data", s(&narrow), "--no-cache"]);
    assert!(ok && stderr.contains("warning: 1 of 1 clips"), "{stderr}");
    // 16 kHz clips into a wideband model, and 8 kHz ones into a telephone model: nothing to say.
    let (ok, _, stderr) = ser(&["eval", "--weights", s(&wide), "--data", s(&data), "--no-cache"]);
    assert!(ok && !stderr.contains("warning"), "{stderr}");
    let (ok, _, stderr) = ser(&["predict", "--weights", s(&phone), s(&call)]);
    assert!(ok && !stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("telephone band"), "the description names the band: {stderr}");

    // A band ser does not know, and an ensemble of two bands, are refused naming the file.
    let odd = root.join("odd.safetensors");
    save_model(&odd, Some("radio"));
    let (ok, _, stderr) = ser(&["predict", "--weights", s(&odd), s(&call)]);
    assert!(!ok && stderr.contains("odd.safetensors") && stderr.contains("'ser.band' = 'radio'"), "{stderr}");
    let (ok, _, stderr) = ser(&["predict", "--weights", s(&wide), "--weights", s(&phone), s(&call)]);
    assert!(!ok && stderr.contains("an ensemble needs one band"), "{stderr}");
}

#[test]
fn the_telephone_band_reaches_the_features_and_has_its_own_cache_entries() {
    let root = temp_dir("phone-data");
    let data = root.join("clips");
    write_clips(&data);
    let file = std::fs::read_dir(&data).unwrap().next().unwrap().unwrap().path();
    let wide = pipeline::prepare_audio(&file, Variant::Original, &config(Band::Wideband, 0, None)).unwrap();
    let phone = pipeline::prepare_audio(&file, Variant::Original, &config(Band::Telephone, 0, None)).unwrap();
    assert_eq!(wide.len(), phone.len());
    let above = |x: &[f32]| power(&band_pass(x, 16_000, (3_700.0, 7_900.0))) / power(x);
    assert!(above(&wide) > 1e-3, "the synthetic voice reaches above 3.7 kHz: {}", above(&wide));
    assert!(above(&phone) < 1e-5, "through the telephone nothing does: {}", above(&phone));

    let cache = root.join("cache");
    let wide_set = pipeline::load_dataset(&data, &config(Band::Wideband, 0, Some(cache.clone()))).unwrap();
    let phone_set = pipeline::load_dataset(&data, &config(Band::Telephone, 0, Some(cache.clone()))).unwrap();
    assert_eq!(phone_set.counts.cache_hits, 0, "telephone features are not the wideband ones");
    assert_ne!(matrix(&wide_set.train[0]), matrix(&phone_set.train[0]));
    let again = pipeline::load_dataset(&data, &config(Band::Telephone, 0, Some(cache))).unwrap();
    assert_eq!(again.counts.cache_misses, 0);
    assert_eq!(matrix(&again.train[0]), matrix(&phone_set.train[0]));
}

#[test]
fn the_wiener_filter_lowers_a_noise_floor_before_the_features_under_its_own_cache_entries() {
    let root = temp_dir("wiener-data");
    let data = root.join("clips");
    write_clips(&data);
    let file = std::fs::read_dir(&data).unwrap().next().unwrap().unwrap().path();
    let clean = pipeline::prepare_audio(&file, Variant::Original, &config(Band::Wideband, 0, None)).unwrap();
    // The clip with white noise 10 dB below it, then through the filter.
    let noise = white_noise(clean.len(), &mut StdRng::seed_from_u64(3));
    let noisy = add_at_snr(&clean, &noise, 10.0).unwrap();
    let error = |x: &[f32]| power(&x.iter().zip(&clean).map(|(a, b)| a - b).collect::<Vec<_>>());
    let filtered = wiener(&noisy);
    assert!(error(&filtered) < error(&noisy) / 2.0, "{} -> {}", error(&noisy), error(&filtered));

    let filtering = DataConfig { enhancement: Enhancement::Wiener, ..config(Band::Wideband, 0, None) };
    assert_eq!(pipeline::prepare_audio(&file, Variant::Original, &filtering).unwrap(), wiener(&clean));
    let cache = root.join("cache");
    let plain = pipeline::load_dataset(&data, &config(Band::Wideband, 0, Some(cache.clone()))).unwrap();
    let cached = DataConfig { cache_dir: Some(cache), ..filtering };
    let filtered_set = pipeline::load_dataset(&data, &cached).unwrap();
    assert_eq!(filtered_set.counts.cache_hits, 0, "filtered features are not the plain ones");
    assert_ne!(matrix(&plain.train[0]), matrix(&filtered_set.train[0]));
    assert_eq!(pipeline::load_dataset(&data, &cached).unwrap().counts.cache_misses, 0);
}

#[test]
fn a_filtered_model_says_so_and_an_ensemble_needs_one_enhancement() {
    let root = temp_dir("wiener-model");
    let data = root.join("clips");
    write_clips(&data);
    let (plain, filtered, odd) = (root.join("plain.safetensors"), root.join("filtered.safetensors"), root.join("odd.safetensors"));
    save_model(&plain, None);
    save_model_with(&filtered, vec![(META_ENHANCEMENT, "wiener")]);
    save_model_with(&odd, vec![(META_ENHANCEMENT, "magic")]);
    assert_eq!(Checkpoint::open(&filtered).unwrap().enhancement().unwrap(), Enhancement::Wiener);
    assert_eq!(Checkpoint::open(&plain).unwrap().enhancement().unwrap(), Enhancement::None);
    let (ok, stdout, stderr) = ser(&["eval", "--weights", s(&filtered), "--data", s(&data), "--no-cache"]);
    assert!(ok && stdout.contains("wiener enhancement"), "the description names it: {stdout}{stderr}");
    let (ok, _, stderr) = ser(&["eval", "--weights", s(&odd), "--data", s(&data), "--no-cache"]);
    assert!(!ok && stderr.contains("odd.safetensors") && stderr.contains("'ser.enhancement' = 'magic'"), "{stderr}");
    let (ok, _, stderr) = ser(&["eval", "--weights", s(&plain), "--weights", s(&filtered), "--data", s(&data), "--no-cache"]);
    assert!(!ok && stderr.contains("filtered.safetensors") && stderr.contains("an ensemble needs one"), "{stderr}");
    // Robustness scores through the model's filter and records it.
    let out = root.join("report");
    let (ok, _, stderr) = ser(&["robustness", "--weights", s(&filtered), "--data", s(&data), "--no-cache", "--out", s(&out)]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("robustness.json")).unwrap()).unwrap();
    assert_eq!(report["enhancement"], "wiener");
    let markdown = std::fs::read_to_string(out.join("robustness.md")).unwrap();
    assert!(markdown.contains("(wideband band, wiener enhancement)"), "{markdown}");
}

#[test]
fn channel_copies_are_seeded_per_clip_and_copy_and_cached() {
    let root = temp_dir("copies");
    let data = root.join("clips");
    write_clips(&data);
    let cfg = config(Band::Wideband, 2, Some(root.join("cache")));
    let set = pipeline::load_dataset(&data, &cfg).unwrap();
    assert_eq!(set.train.len(), 6 * set.counts.train_clips);
    let tags: Vec<&str> = set.train[..6].iter().map(|e| e.name.rsplit('#').next().unwrap()).collect();
    assert_eq!(tags, ["orig", "noise0.01", "pitch+3", "pitch-3", "channel0", "channel1"]);
    assert!(set.val.iter().all(|e| e.is_original()));
    // Each copy draws its own channel (two copies can still draw the same seedless one, the
    // telephone or a gain, so most clips differ rather than all).
    let differing = set.train.chunks(6).filter(|copies| matrix(&copies[4]) != matrix(&copies[5])).count();
    assert!(2 * differing >= set.counts.train_clips, "copies 0 and 1 differ for only {differing} clips");
    // A new training seed draws new channels; the same one the same (computed afresh here).
    let fresh = |seed| pipeline::load_dataset(&data, &DataConfig { noise_seed: seed, cache_dir: None, ..cfg.clone() }).unwrap();
    let (same, other) = (fresh(0), fresh(1));
    assert!(set.train.iter().zip(&same.train).all(|(a, b)| matrix(a) == matrix(b)), "the same seed, the same copies");
    let reseeded = set.train.iter().zip(&other.train).filter(|(a, b)| a.variant == Variant::Channel(0) && matrix(a) != matrix(b)).count();
    assert!(2 * reseeded >= set.counts.train_clips, "only {reseeded} copies changed with the seed");
    // Alone, without the training split to mix babble from, a copy that draws babble is refused.
    let file = data.join(set.train[0].name.trim_end_matches("#orig"));
    let alone: Vec<String> =
        (0..12).filter_map(|k| pipeline::prepare_audio(&file, Variant::Channel(k), &cfg).err()).map(|e| e.to_string()).collect();
    assert!(!alone.is_empty(), "some of 12 copies draw babble");
    assert!(alone.iter().all(|e| e.contains("babble noise needs talkers' clips")), "{alone:?}");
    let again = pipeline::load_dataset(&data, &cfg).unwrap();
    assert_eq!(again.counts.cache_misses, 0);

    // A mix of the telephone alone: every copy is band-limited, and cached under its own keys.
    let phone_only = ChannelMix::parse("white=0,pink=0,babble=0,reverb=0,gain=0").unwrap();
    let phone_cfg = DataConfig { channel_mix: phone_only, ..cfg.clone() };
    let above = |x: &[f32]| power(&band_pass(x, 16_000, (4_200.0, 7_900.0))) / power(x);
    for k in 0..4 {
        let copy = pipeline::prepare_audio(&file, Variant::Channel(k), &phone_cfg).unwrap();
        assert!(above(&copy) < 1e-4, "copy {k} carries {} of its power above 4.2 kHz", above(&copy));
    }
    let phoned = pipeline::load_dataset(&data, &phone_cfg).unwrap();
    assert_eq!(phoned.counts.cache_misses, 2 * set.counts.train_clips, "only the corrupted copies are new");
    let (copies, others): (Vec<_>, Vec<_>) =
        set.train.iter().zip(&phoned.train).partition(|(a, _)| matches!(a.variant, Variant::Channel(_)));
    assert!(others.iter().all(|(a, b)| matrix(a) == matrix(b)), "the study's copies do not depend on the mix");
    // An even draw of the telephone without mu-law gives the same copy, so most differ, not all.
    let changed = copies.iter().filter(|(a, b)| matrix(a) != matrix(b)).count();
    assert!(2 * changed >= copies.len(), "only {changed} of {} copies changed with the mix", copies.len());

    // Babble of one talker instead of four: every babble copy changes, under its own cache keys.
    let babble_only = DataConfig { channel_mix: ChannelMix::parse("white=0,pink=0,telephone=0,reverb=0,gain=0").unwrap(), ..cfg.clone() };
    let one_talker = DataConfig { babble_talkers: BabbleTalkers::parse("1").unwrap(), ..babble_only.clone() };
    let four = pipeline::load_dataset(&data, &babble_only).unwrap();
    let one = pipeline::load_dataset(&data, &one_talker).unwrap();
    assert_eq!(one.counts.cache_misses, 2 * set.counts.train_clips, "only the babble copies are new");
    for (a, b) in four.train.iter().zip(&one.train) {
        assert_eq!(matches!(a.variant, Variant::Channel(_)), matrix(a) != matrix(b), "{}", a.name);
    }
    // Under every kind of channel only the copies that draw babble are made again; the others
    // come from the entries cached with four talkers.
    let one_talker_mixed = DataConfig { babble_talkers: BabbleTalkers::parse("1").unwrap(), ..cfg.clone() };
    let mixed = pipeline::load_dataset(&data, &one_talker_mixed).unwrap();
    let remade = mixed.counts.cache_misses;
    assert!(0 < remade && remade < 2 * set.counts.train_clips, "{remade} of {} copies made again", 2 * set.counts.train_clips);
    let changed = set.train.iter().zip(&mixed.train).filter(|(a, b)| matrix(a) != matrix(b)).count();
    assert_eq!(changed, remade, "each copy made again is a babble copy, and changed");
}

#[test]
fn train_records_the_band_and_makes_the_channel_copies_asked_for() {
    let root = temp_dir("train");
    let data = root.join("clips");
    write_clips(&data);
    let out = root.join("run");
    let (ok, _, stderr) = ser(&[
        "train",
        "--recipe",
        "robust",
        "--band",
        "telephone",
        "--enhance",
        "wiener",
        "--channel-copies",
        "1",
        "--epochs",
        "1",
        "--ensemble",
        "1",
        "--batch-size",
        "16",
        "--no-cache",
        "--data",
        s(&data),
        "--layout",
        "pool",
        "--out",
        s(&out),
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("recipes.json")).unwrap()).unwrap();
    let counts = &report["counts"];
    assert_eq!(counts["train_examples"].as_u64().unwrap(), 5 * counts["train_clips"].as_u64().unwrap());
    assert_eq!(report["rows"][0]["recipe"]["band"], "telephone");
    assert_eq!(report["rows"][0]["recipe"]["channel_copies"], 1);
    let ckpt = Checkpoint::open(&out.join("model.safetensors")).unwrap();
    assert_eq!(ckpt.metadata.get(META_BAND).map(String::as_str), Some("telephone"));
    assert_eq!(ckpt.band().unwrap(), Band::Telephone);
    assert_eq!(report["rows"][0]["recipe"]["enhancement"], "wiener");
    assert_eq!(ckpt.metadata.get(META_ENHANCEMENT).map(String::as_str), Some("wiener"));
    // The robust recipe centres each clip, and the checkpoint's input map says so for eval and predict.
    assert_eq!(report["rows"][0]["recipe"]["utterance_mean"], true);
    assert!(ckpt.input_scaling().unwrap().utterance_mean);

    for (flag, value, error) in [
        ("--channel-copies", "9", "--channel-copies takes at most 8"),
        ("--band", "radio", "invalid value 'radio'"),
        ("--enhance", "magic", "invalid value 'magic'"),
        ("--channel-mix", "babble=x", "--channel-mix: babble's weight 'x' is not a whole number"),
    ] {
        let (ok, _, stderr) = ser(&["train", "--recipe", "robust", flag, value, "--data", s(&data), "--out", s(&root.join("x"))]);
        assert!(!ok && stderr.contains(error), "{flag} {value}: {stderr}");
    }
}
