//! `qforge bench`: writes, builds and times the emitted crate, and prints a summary per
//! backend, the paired comparison with one thread, the per-layer table and the by-kernel
//! table. No time is asserted (a benchmark, not a timed test): only that every part is
//! there, one row per layer, and that the shares add up.

use std::path::Path;
use std::process::Command;

#[test]
fn bench_prints_every_table_and_the_paired_ratio() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_bench");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_qforge"))
        .arg("bench")
        .arg(root.join("examples/digits/digits.onnx"))
        .arg("--calib")
        .arg(root.join("examples/digits/calib.npy"))
        .args(["--backend", "scalar", "--iterations", "20", "--threads", "2", "--no-fp32", "--ghz", "3"])
        .arg("--dir")
        .arg(dir.join("digits"))
        .output()
        .expect("run qforge");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "qforge bench failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();

    let layers: usize = lines[0]
        .strip_prefix("model: ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no model line:\n{text}"));
    assert!(lines[0].ends_with("2 thread(s)"), "{}", lines[0]);
    assert!(lines.iter().any(|l| l.starts_with("scalar ") && l.split_whitespace().count() == 7), "{text}");

    // 20 iterations give the least number of block pairs, 5.
    let paired = lines.iter().find(|l| l.contains("threads are")).unwrap_or_else(|| panic!("no paired line:\n{text}"));
    let ratio: f64 = paired.split_whitespace().nth(4).and_then(|r| r.strip_suffix('x')?.parse().ok()).expect(paired);
    assert!(paired.starts_with("scalar ") && paired.contains("as fast as one (median of 5 paired blocks"), "{paired}");
    assert!(ratio > 0.0 && ratio.is_finite(), "{paired}");
    // The cores' own speed-up in the same blocks, and the model's share of it, follow.
    let at = lines.iter().position(|l| l.contains("threads are")).expect("paired line");
    let number_after = |l: &str, after: &str| -> f64 {
        let rest = &l[l.find(after).unwrap_or_else(|| panic!("no {after:?} in {l}")) + after.len()..];
        rest.split(|c: char| c != '.' && !c.is_ascii_digit()).next().and_then(|v| v.parse().ok()).expect(l)
    };
    let machine = lines[at + 1];
    assert!(machine.trim_start().starts_with("the cores themselves, in the same blocks:"), "{text}");
    let cores = number_after(machine, "blocks: ");
    let share = lines[at + 2];
    assert!(share.trim_start().starts_with("so the model gets"), "{text}");
    let got = number_after(share, "gets ");
    assert!(cores > 0.0 && got > 0.0 && got.is_finite(), "{text}");
    // Then the pool's measured thread speeds: the caller's is 1 by definition, the
    // worker's within the pool's clamp (1/4 to 4).
    let speeds = lines[at + 3];
    assert!(speeds.trim_start().starts_with("threads' speeds as measured by the pool"), "{text}");
    let list = &speeds[speeds.find("thread: ").expect(speeds) + "thread: ".len()..speeds.find(" (").expect(speeds)];
    let speeds: Vec<f64> = list.split(", ").map(|v| v.parse().expect(speeds)).collect();
    assert_eq!(speeds.len(), 2, "{text}");
    assert_eq!(speeds[0], 1.0, "{text}");
    assert!((0.25..=4.0).contains(&speeds[1]), "{text}");

    // One row per layer, numbered 1..=layers, whose shares add up to 100%.
    let start = lines.iter().position(|l| l.starts_with("per layer (scalar)")).expect("per-layer table") + 2;
    let rows: Vec<Vec<&str>> =
        lines[start..].iter().take_while(|l| !l.is_empty()).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), layers, "{text}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1).to_string(), "{text}");
    }
    // The MACs column lines up under its header, however long a layer's name or op.
    let macs_end = lines[start - 1].find("MACs").expect("MACs header") + "MACs".len();
    for l in lines[start..].iter().take(layers) {
        let b = l.as_bytes();
        assert!(b[macs_end - 1].is_ascii_digit() && b[macs_end] == b' ', "MACs column misaligned:\n{text}");
    }
    let share = |s: &str| s.strip_suffix('%').and_then(|s| s.parse::<f64>().ok()).expect(s);
    let total: f64 = rows.iter().map(|r| share(r[r.len() - 3])).sum();
    assert!((total - 100.0).abs() < 0.1 * layers as f64, "per-layer shares add to {total}:\n{text}");

    let start = lines.iter().position(|l| l.starts_with("by kernel (scalar)")).expect("by-kernel table") + 1;
    let kinds: Vec<&str> = lines[start..].iter().take_while(|l| l.starts_with("  ")).copied().collect();
    let total: f64 = kinds.iter().map(|l| share(l.split_whitespace().rev().nth(2).expect(l))).sum();
    assert!(
        !kinds.is_empty() && (total - 100.0).abs() < 0.1 * kinds.len() as f64,
        "kernel shares add to {total}:\n{text}"
    );
}
