//! The `ser` command line: argument types (`args`) and one file per command family: training
//! runs (`training`: ablation, train, recipe-ablation), scoring (`score`: eval, predict,
//! robustness), explanations (`explain`), `listen` (utterance by utterance through long
//! recordings and streams) and the tools (`tools`: features, synth, labels, fetch-ravdess, bench). Each
//! command's work lives on the floors below; here it is parsed, checked and printed.

pub mod args;
pub mod explain;
pub mod listen;
pub mod score;
pub mod tools;
pub mod training;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ser",
    version,
    about = "Speech emotion recognition from scratch: the dropout ablation study of a CNN + BiLSTM + MLP on RAVDESS"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Reproduce the study: train the model with and without dropout, evaluate, write a report.
    Ablation(training::AblationArgs),
    /// Train one model with a recipe (one or more seeds) and save its checkpoint.
    Train(training::TrainArgs),
    /// Measure each piece of the improved recipe: one row per piece added, several seeds each.
    RecipeAblation(training::RecipeAblationArgs),
    /// Evaluate a checkpoint on a data folder.
    Eval(score::EvalArgs),
    /// Predict the emotion of WAV files with a checkpoint.
    Predict(score::PredictArgs),
    /// Explain a checkpoint's answer for a WAV file: integrated gradients over its input, occlusion over time.
    Explain(explain::ExplainArgs),
    /// Accuracy of a checkpoint under channel corruptions: noise, telephone, rooms, levels.
    Robustness(score::RobustnessArgs),
    /// Emotions through long recordings, calls and live streams: one line per utterance.
    Listen(listen::ListenArgs),
    /// Write the 162 x K feature matrix of a WAV file (float32 .npy, rows ZCR, chroma, MFCC, RMS, mel).
    Features(tools::FeaturesArgs),
    /// Write the built-in synthetic emotional-speech corpus as WAV files.
    Synth(tools::SynthArgs),
    /// Write the labels CSV of a RAVDESS folder (file,emotion,speaker,split), to train it beside other corpora.
    Labels(tools::LabelsArgs),
    /// Download the RAVDESS speech archive (Zenodo 1188976, CC BY-NC-SA 4.0), check it, unpack it.
    FetchRavdess(tools::FetchArgs),
    /// Measure training, BiLSTM, feature-extraction and listening speed.
    Bench(tools::BenchArgs),
}

/// Parses the command line and runs the command; an error is printed once, with its causes, and
/// the process exits with status 1.
pub fn main() {
    let result = match Cli::parse().command {
        Command::Ablation(a) => training::ablation(a),
        Command::Train(a) => training::train(a),
        Command::RecipeAblation(a) => training::recipe_ablation(a),
        Command::Eval(a) => score::eval(a),
        Command::Predict(a) => score::predict(a),
        Command::Explain(a) => explain::explain(a),
        Command::Robustness(a) => score::robustness(a),
        Command::Listen(a) => listen::listen(a),
        Command::Features(a) => tools::features(a),
        Command::Synth(a) => tools::synth(a),
        Command::Labels(a) => tools::labels(a),
        Command::FetchRavdess(a) => tools::fetch_ravdess(a),
        Command::Bench(a) => tools::bench(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
