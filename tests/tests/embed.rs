//! The build-time doors' core (`qforge::embed`): the cache, the module it renders and the
//! build.rs door's files, checked against the CLI's own pipeline on the digits model.

use qforge::embed::{self, Arg, Budgets, Options, RangeSource, Source};
use qforge::pipeline::{self, Ranges};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("embed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn options(stats: &str) -> Options {
    let base = root();
    Options {
        model: Source::resolve(&base, "examples/digits/digits.onnx"),
        weights: None,
        ranges: RangeSource::Stats(Source::resolve(&base, stats)),
        observer: None,
        budgets: Budgets::default(),
        command: "test".into(),
    }
}

/// The blob the CLI's pipeline produces for the same model and statistics.
fn cli_blob(stats: &Path) -> Vec<u8> {
    let model = pipeline::load(&root().join("examples/digits/digits.onnx"), None).expect("load");
    let (stats, _, source) = Ranges::Stats(stats.to_path_buf()).resolve(&model, false).expect("stats");
    pipeline::quantize(&model, &stats, &source).expect("quantize").blob
}

#[test]
fn second_compile_hits_the_cache_and_the_blob_is_the_clis() {
    let cache = scratch("cache");
    let opts = options("tests/golden/digits/stats.json");
    let first = embed::compile(&opts, &cache).expect("compile");
    assert!(!first.cache_hit);
    let second = embed::compile(&opts, &cache).expect("compile again");
    assert!(second.cache_hit);
    assert_eq!(first.body, second.body);
    assert_eq!(first.blob, second.blob);
    let blob = std::fs::read(&first.blob).expect("cached blob");
    assert_eq!(blob, cli_blob(&root().join("tests/golden/digits/stats.json")));
}

#[test]
fn edited_statistics_miss_the_cache() {
    let cache = scratch("edit");
    let dir = scratch("edit-inputs");
    let stats = dir.join("stats.json");
    let original = std::fs::read_to_string(root().join("tests/golden/digits/stats.json")).expect("stats");
    std::fs::write(&stats, &original).expect("copy");
    let opts = options(stats.to_str().expect("utf-8 path"));
    let before = embed::compile(&opts, &cache).expect("compile");
    // Widen the first tensor's range (bn4_out: 5.87 -> 15.87): its scale changes.
    let edited = original.replacen("\"max\": ", "\"max\": 1", 1);
    assert_ne!(edited, original, "the statistics file has no max to edit");
    std::fs::write(&stats, &edited).expect("edit");
    let after = embed::compile(&opts, &cache).expect("compile edited");
    assert!(!after.cache_hit, "an edited input must not be served from the cache");
    assert_ne!(std::fs::read(&before.blob).expect("blob"), std::fs::read(&after.blob).expect("blob"));
    assert_eq!(std::fs::read(&after.blob).expect("blob"), cli_blob(&stats));
}

#[test]
fn the_module_reaches_the_runtime_by_absolute_paths_and_has_no_unsafe() {
    let opts = options("tests/golden/digits/stats.json");
    let body = embed::compile(&opts, &scratch("paths")).expect("compile").body;
    let all = body.matches("qrt ::").count();
    let absolute = body.matches(":: qrt ::").count();
    assert!(all > 10, "expected runtime paths in the module");
    assert_eq!(all, absolute, "a runtime path is not absolute");
    assert!(!body.contains("unsafe {") && !body.contains("unsafe fn"), "generated code has unsafe");
    assert!(body.contains("forbid (unsafe_code)"));
}

#[test]
fn errors_name_the_option_and_the_path_as_written() {
    let mut opts = options("tests/golden/digits/stats.json");
    opts.model = Source::resolve(&root(), "examples/digits/no_such.onnx");
    let e = embed::compile(&opts, &scratch("errors")).expect_err("missing model");
    assert_eq!(e.arg, Some(Arg::Model));
    assert!(e.message.starts_with("examples/digits/no_such.onnx: file not found"), "{}", e.message);
    let mut opts = options("tests/golden/digits/stats.json");
    opts.budgets.max_flash = Some(1000);
    let e = embed::compile(&opts, &scratch("budget")).expect_err("over budget");
    assert_eq!(e.arg, Some(Arg::MaxFlash));
    let blob_len = cli_blob(&root().join("tests/golden/digits/stats.json")).len();
    assert!(e.message.contains(&format!("weight blob of {blob_len} bytes exceeds the flash budget")), "{}", e.message);
}

#[test]
fn builder_writes_the_module_and_its_weights() {
    let out = scratch("out");
    let path = qforge::Builder::new("examples/digits/digits.onnx")
        .stats("tests/golden/digits/stats.json")
        .build_to(&out, &root(), &scratch("builder-cache"))
        .expect("build");
    assert_eq!(path, out.join("digits.rs"));
    let code = std::fs::read_to_string(&path).expect("module file");
    assert!(code.contains("pub mod digits {"));
    assert!(code.contains("include_bytes!(concat!(env!(\"OUT_DIR\"), \"/\", \"digits.weights.bin\"))"));
    let blob = std::fs::read(out.join("digits.weights.bin")).expect("weights");
    assert_eq!(blob, cli_blob(&root().join("tests/golden/digits/stats.json")));
    let e = qforge::Builder::new("examples/digits/digits.onnx")
        .build_to(&out, &root(), &scratch("builder-cache2"))
        .expect_err("no ranges");
    assert!(e.to_string().contains("exactly one of .calibration() and .stats()"), "{e}");
}

#[test]
fn a_compile_that_misses_prunes_the_models_least_recently_used_entries() {
    let cache = scratch("prune");
    let dir = scratch("prune-inputs");
    let stats = dir.join("stats.json");
    let original = std::fs::read_to_string(root().join("tests/golden/digits/stats.json")).expect("stats");
    let opts = options(stats.to_str().expect("utf-8 path"));
    // Ten versions of the statistics (a widened range each), so ten entries of one model.
    let mut entries = Vec::new();
    for i in 0..10 {
        std::fs::write(&stats, original.replacen("\"max\": ", &format!("\"max\": {}", i + 1), 1)).expect("edit");
        let compiled = embed::compile(&opts, &cache).expect("compile");
        assert!(!compiled.cache_hit);
        entries.push(compiled.blob.parent().expect("entry folder").to_path_buf());
    }
    assert!(entries.iter().all(|e| e.is_dir()), "nothing is pruned within the hour of grace");
    // Version i was last used (12 - i) hours ago, all past the hour of grace.
    for (i, entry) in entries.iter().enumerate() {
        let used = std::time::SystemTime::now() - std::time::Duration::from_secs(3600 * (12 - i as u64));
        let mark = std::fs::File::options().write(true).open(entry.join("used")).expect("the entry's use mark");
        mark.set_modified(used).expect("backdate");
    }
    // One more version: a miss, which prunes the model's entries down to the 8 most recent.
    std::fs::write(&stats, &original).expect("restore");
    let newest = embed::compile(&opts, &cache).expect("compile");
    assert!(newest.blob.is_file());
    let kept: Vec<bool> = entries.iter().map(|e| e.is_dir()).collect();
    assert_eq!(kept, [false, false, false, true, true, true, true, true, true, true]);
}
