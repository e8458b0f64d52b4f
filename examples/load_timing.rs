use ser::data::pipeline::{load_dataset, DataConfig, Layout};
use ser::data::{Features, InputScaling};
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let cache = std::env::args().nth(2).unwrap();
    let cfg = DataConfig { layout: Layout::Pool, cache_dir: Some(cache.into()), ..DataConfig::default() };
    let t = Instant::now();
    let set = load_dataset(std::path::Path::new(&dir), &cfg).unwrap();
    println!("load_dataset {:.2} s, {} train, hits {}", t.elapsed().as_secs_f64(), set.train.len(), set.counts.cache_hits);
    let files: Vec<_> = set.train.iter().map(|e| match &e.features { Features::Cached { file, .. } => file.clone(), _ => panic!() }).collect();
    let n = files.len() as f64;
    let s = InputScaling::fit(&set.train, true, true).unwrap();
    let id = InputScaling::identity();
    for _ in 0..3 {
        let t = Instant::now();
        for f in &files { let _ = std::fs::read(f).unwrap(); }
        print!("fs::read {:.1} us; ", t.elapsed().as_secs_f64() / n * 1e6);
        let t = Instant::now();
        for f in &files { let _ = ser::features::read_npy_f32(f).unwrap(); }
        print!("read_npy_f32 {:.1} us; ", t.elapsed().as_secs_f64() / n * 1e6);
        let t = Instant::now();
        for e in &set.train { let _ = id.input(e).unwrap(); }
        print!("input identity {:.1} us; ", t.elapsed().as_secs_f64() / n * 1e6);
        let t = Instant::now();
        for e in &set.train { let _ = s.input(e).unwrap(); }
        println!("input log+std {:.1} us", t.elapsed().as_secs_f64() / n * 1e6);
    }
}
