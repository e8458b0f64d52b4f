//! The tree reads as the pipeline: each module of `src/` imports only modules on floors below its
//! own (audio -> features -> nn -> data -> train -> recipe -> experiments -> report -> cli), so
//! there is no cycle and the bottom floors never reach up into configuration or commands.
//! A reference to `crate::X` in code (not in comments) counts as an import of `X`.

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module of `src/` and its floor; a module may use only lower floors (and itself).
const FLOORS: [(&str, u32); 19] = [
    ("fsio", 0),
    ("stats", 0),
    ("dsp", 0),
    ("audio", 1),
    ("fetch", 1),
    ("features", 2),
    ("synth", 2),
    ("nn", 3),
    ("optim", 4),
    ("data", 5),
    ("checkpoint", 6),
    ("train", 7),
    ("recipe", 8),
    ("explain", 8),
    ("experiments", 9),
    ("listen", 9),
    ("bench", 10),
    ("report", 10),
    ("cli", 11),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `code` names as `crate::name` outside comments.
fn crate_references(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn every_module_imports_only_floors_below_its_own() {
    let floors: BTreeMap<&str, u32> = FLOORS.into_iter().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if first == "lib" || first == "main" {
            continue;
        }
        let Some(&own) = floors.get(first.as_str()) else {
            panic!("{}: module '{first}' has no floor in FLOORS; give it one", relative.display());
        };
        for name in crate_references(&std::fs::read_to_string(file).unwrap()) {
            checked += 1;
            match floors.get(name.as_str()) {
                Some(&floor) if name == first || floor < own => {}
                Some(&floor) => broken.push(format!("{}: {first} (floor {own}) uses crate::{name} (floor {floor})", relative.display())),
                None => broken.push(format!("{}: crate::{name} is not a module with a floor", relative.display())),
            }
        }
    }
    assert!(checked > 100, "only {checked} references found: the scan is not reading the tree");
    assert!(broken.is_empty(), "imports against the floors:\n{}", broken.join("\n"));
}

#[test]
fn the_scan_sees_imports_and_skips_comments() {
    let code = "use crate::data::Example;\n// crate::cli is only named here\nlet x = crate::nn::model::NUM_CLASSES; // crate::report\n";
    assert_eq!(crate_references(code), ["data", "nn"]);
}
