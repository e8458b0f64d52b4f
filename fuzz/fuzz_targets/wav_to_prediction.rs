//! `cargo fuzz run wav_to_prediction`: arbitrary bytes through the whole prediction path
//! (see `pipeline.rs`).
#![no_main]

mod pipeline;

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static MODEL: RefCell<ser::nn::model::SerModel<f32>> = RefCell::new(pipeline::model());
}

fuzz_target!(|bytes: &[u8]| {
    MODEL.with(|model| pipeline::wav_to_prediction(&mut model.borrow_mut(), bytes));
});
