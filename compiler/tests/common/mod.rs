//! Helpers shared by the op tests: building attributes, arrays and input infos.

#![allow(dead_code)]

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::{InputInfo, Op};

/// Attributes from `(name, value)` pairs.
pub fn attrs(list: &[(&str, AttrValue)]) -> Attrs {
    let mut a = Attrs::default();
    for (k, v) in list {
        a.set(*k, v.clone());
    }
    a
}

/// An integer-list attribute.
pub fn ints(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

/// An integer attribute.
pub fn int(v: i64) -> AttrValue {
    AttrValue::Int(v)
}

/// An array from a shape and values.
pub fn arr(shape: &[usize], data: &[f32]) -> Array {
    Array::new(shape.to_vec(), data.to_vec())
}

/// Input infos: `constant[i]` says whether input `i` is a constant.
pub fn infos<'a>(inputs: &[&'a Array], constant: &[bool]) -> Vec<Option<InputInfo<'a>>> {
    inputs.iter().zip(constant).map(|(a, &c)| Some(InputInfo { shape: &a.shape, data: c.then_some(*a) })).collect()
}

/// The first output of `op` on `inputs`.
pub fn eval(op: &Op, inputs: &[&Array]) -> Result<Array, String> {
    let args: Vec<Option<&Array>> = inputs.iter().map(|a| Some(*a)).collect();
    op.eval(&args).map(|mut v| v.remove(0))
}

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// `<temp>/qforge-<suite>-<pid>-<name>`, emptied.
    pub fn new(suite: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("qforge-{suite}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    /// A path inside the folder.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    /// Writes a file in the folder and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> std::path::PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write a temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
