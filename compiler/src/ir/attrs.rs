//! Generic node attributes as front ends read them, before an op parses them.

use super::Array;
use std::collections::BTreeMap;

/// One attribute value (the ONNX attribute kinds qforge understands).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A 64-bit integer.
    Int(i64),
    /// A float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A UTF-8 string.
    String(String),
    /// A constant tensor (used by `Constant`).
    Tensor(Array),
}

/// A node's attributes by name. Parsing helpers return a message (no context); the caller
/// wraps it into an error naming the file and node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub BTreeMap<String, AttrValue>);

impl Attrs {
    /// Inserts or replaces an attribute.
    pub fn set(&mut self, name: impl Into<String>, v: AttrValue) {
        self.0.insert(name.into(), v);
    }

    /// True when the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Names of all attributes.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// An integer attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.0.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(other) => Err(format!("attribute '{name}' should be an int, found {}", kind(other))),
        }
    }

    /// A float attribute, or `default` when absent (integers are accepted).
    pub fn float(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.0.get(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(AttrValue::Int(v)) => Ok(*v as f32),
            Some(other) => Err(format!("attribute '{name}' should be a float, found {}", kind(other))),
        }
    }

    /// An integer-list attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(AttrValue::Int(v)) => Ok(Some(vec![*v])),
            Some(other) => Err(format!("attribute '{name}' should be a list of ints, found {}", kind(other))),
        }
    }

    /// A string attribute, or `default` when absent.
    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.0.get(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("attribute '{name}' should be a string, found {}", kind(other))),
        }
    }

    /// A tensor attribute, if present.
    pub fn tensor(&self, name: &str) -> Result<Option<&Array>, String> {
        match self.0.get(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(format!("attribute '{name}' should be a tensor, found {}", kind(other))),
        }
    }
}

fn kind(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::Int(_) => "an int",
        AttrValue::Float(_) => "a float",
        AttrValue::Ints(_) => "a list of ints",
        AttrValue::Floats(_) => "a list of floats",
        AttrValue::String(_) => "a string",
        AttrValue::Tensor(_) => "a tensor",
    }
}
