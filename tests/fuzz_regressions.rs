//! Replays the inputs the `wav_to_prediction` fuzz target once crashed on (kept under
//! `fixtures/fuzz/`) through the same pipeline, so a normal `cargo test` guards each fix.

#[path = "../fuzz/fuzz_targets/pipeline.rs"]
mod pipeline;

#[test]
fn kept_fuzz_inputs_run_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    inputs.sort();
    let mut model = pipeline::model();
    for input in &inputs {
        println!("{}", input.display());
        pipeline::wav_to_prediction(&mut model, &std::fs::read(input).unwrap());
    }
}
