//! Crate names: derived from the output folder so that the emitted code compiles (a Rust
//! keyword such as `final` would make `final::Model` unparsable), and checked when given.

use std::path::Path;

use qforge::codegen::{check_crate_name, crate_name_for};

#[test]
fn folder_names_become_crate_names_the_code_can_use() {
    for (dir, name) in [
        ("out/mynet", "mynet"),
        ("My Net-2", "my_net_2"),
        ("2net", "model_2net"),
        ("__", "model_"),
        ("final", "final_model"),
        ("Type", "type_model"),
        ("std", "std_model"),
        ("qrt", "qrt_model"),
        ("finale", "finale"),
    ] {
        assert_eq!(crate_name_for(Path::new(dir)), name, "{dir}");
        assert_eq!(check_crate_name(name), Ok(()), "{name}");
    }
}

#[test]
fn given_names_are_checked() {
    assert_eq!(check_crate_name("my-net"), Ok(()));
    for bad in ["final", "self", "core", "2net", "my net", "", "-x", "net!"] {
        let err = check_crate_name(bad).expect_err(bad);
        assert!(err.contains(&format!("`{bad}`")), "{err}");
    }
}
