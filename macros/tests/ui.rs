//! The macro's diagnostics, pinned by `.stderr` files (`TRYBUILD=overwrite` rewrites them):
//! every bad invocation is a `compile_error!` on the argument concerned, never a panic.
//!
//! The cases name fixture files relative to the crate that invokes the macro, which for
//! trybuild is its generated project under `<target>/tests/trybuild/qforge-macros/`, so
//! the fixtures are copied there first.

use std::path::Path;

#[test]
fn diagnostics() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR is <target>/tmp");
    let project = target.join("tests/trybuild/qforge-macros/fixtures");
    std::fs::create_dir_all(&project).expect("create the fixtures folder");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fixtures");
    for entry in std::fs::read_dir(&fixtures).expect("fixtures").flatten() {
        std::fs::copy(entry.path(), project.join(entry.file_name())).expect("copy a fixture");
    }
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
