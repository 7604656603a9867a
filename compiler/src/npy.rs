//! Reading and writing `.npy` arrays, the format `numpy.save` writes.
//!
//! A `.npy` file is the magic string `\x93NUMPY`, a major and a minor version byte, the
//! header length (a little-endian `u16` in version 1.0, a `u32` in 2.0 and 3.0), and the
//! header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, padded with spaces and a
//! final newline. The raw array data follows, in C order when `fortran_order` is `False`.
//!
//! qforge reads float32 (`<f4`), float64 (`<f8`, converted to f32), int8 (`|i1`), int32
//! (`<i4`) and int64 (`<i8`) arrays in C order, and writes float32 and int8 arrays the way
//! numpy 2 does, byte for byte: version 1.0, the header padded with spaces for in-place
//! growth of the first axis and to a multiple of 64 bytes.

use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
const ALIGN: usize = 64;
/// numpy leaves room for the first dimension to grow to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The element type of a `.npy` file, as stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`
    F32,
    /// `<f8` (read as f32)
    F64,
    /// `|i1`
    I8,
    /// `<i4` (read as i64)
    I32,
    /// `<i8`
    I64,
}

impl Dtype {
    /// numpy's name for the type (`float32`, `int8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I8 => "int8",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::I8 => 1,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// The header's `descr` string for this type.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I8 => "|i1",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
        }
    }
}

/// The values of an array, widened to the type qforge works in.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// Float data (`<f4`, or `<f8` narrowed to f32).
    F32(Vec<f32>),
    /// Int8 data (`|i1`).
    I8(Vec<i8>),
    /// Integer data (`<i8`, or `<i4` widened to i64).
    I64(Vec<i64>),
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::I8(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An array read from a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy {
    /// Dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// The element type in the file.
    pub dtype: Dtype,
    /// The values in C order.
    pub data: NpyData,
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<Npy> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, &path.display().to_string())
}

/// Parses the bytes of a `.npy` file; `source` names the file in errors.
pub fn parse(bytes: &[u8], source: &str) -> Result<Npy> {
    let err = |msg: String| Error::format(source, msg);
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(err("not a .npy file (it does not start with the magic string \\x93NUMPY)".into()));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_size = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(err(format!(".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"))),
    };
    let header_start = 8 + len_size;
    let len_bytes = bytes.get(8..header_start).ok_or_else(|| err("truncated .npy header".into()))?;
    let header_len = len_bytes.iter().rev().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| err(format!("truncated .npy header: it claims {header_len} bytes")))?;
    let header_bytes = &bytes[header_start..header_end];
    let header: String = if major == 3 {
        std::str::from_utf8(header_bytes).map_err(|e| err(format!("the .npy header is not UTF-8: {e}")))?.to_string()
    } else {
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&header).map_err(|msg| err(format!("bad .npy header: {msg}")))?;
    if header.fortran_order {
        return Err(err("the array is stored in Fortran order; save it in C order (np.ascontiguousarray)".into()));
    }
    let dtype = parse_descr(&header.descr).map_err(err)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err(format!("shape {:?} is too large", header.shape)))?;
    let data = &bytes[header_end..];
    let expected =
        count.checked_mul(dtype.size()).ok_or_else(|| err(format!("shape {:?} is too large", header.shape)))?;
    if data.len() < expected {
        return Err(err(format!(
            "truncated: shape {:?} of {} needs {expected} bytes of data, the file holds {}",
            header.shape,
            dtype.name(),
            data.len()
        )));
    }
    if data.len() > expected {
        return Err(err(format!(
            "{} bytes follow the array data (several arrays saved into one file?); qforge reads one array per file",
            data.len() - expected
        )));
    }
    let data = match dtype {
        Dtype::F32 => {
            NpyData::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        Dtype::F64 => NpyData::F32(
            data.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
        ),
        Dtype::I8 => NpyData::I8(data.iter().map(|&b| b as i8).collect()),
        Dtype::I32 => NpyData::I64(
            data.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect(),
        ),
        Dtype::I64 => NpyData::I64(
            data.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
    };
    Ok(Npy { shape: header.shape, dtype, data })
}

/// Writes a float32 array (`<f4`).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    check_len(path, shape, data.len())?;
    std::fs::write(path, to_bytes_f32(shape, data)).map_err(|e| Error::io(path, e))
}

/// Writes an int8 array (`|i1`).
pub fn write_i8(path: &Path, shape: &[usize], data: &[i8]) -> Result<()> {
    check_len(path, shape, data.len())?;
    std::fs::write(path, to_bytes_i8(shape, data)).map_err(|e| Error::io(path, e))
}

/// The bytes of a float32 `.npy` file, identical to what `numpy.save` writes.
///
/// # Panics
///
/// When `data.len()` is not the product of `shape` (a bug in the caller; [`write_f32`]
/// checks this and returns an error instead).
pub fn to_bytes_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy data does not match its shape");
    let mut out = header_bytes(Dtype::F32, shape);
    out.reserve(data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The bytes of an int8 `.npy` file, identical to what `numpy.save` writes.
///
/// # Panics
///
/// When `data.len()` is not the product of `shape` (a bug in the caller; [`write_i8`]
/// checks this and returns an error instead).
pub fn to_bytes_i8(shape: &[usize], data: &[i8]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy data does not match its shape");
    let mut out = header_bytes(Dtype::I8, shape);
    out.extend(data.iter().map(|&v| v as u8));
    out
}

fn check_len(path: &Path, shape: &[usize], len: usize) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(len) {
        return Err(Error::format(
            path.display().to_string(),
            format!("cannot write {len} values as an array of shape {shape:?}"),
        ));
    }
    Ok(())
}

/// Magic, version, header length and the padded header, as numpy's `_write_array_header`
/// lays them out.
fn header_bytes(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    let mut dict =
        format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", dtype.descr(), shape_repr(shape));
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.extend(std::iter::repeat_n(' ', GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // The header ends with a newline; numpy pads with at least one space so that the
    // data starts on a 64-byte boundary.
    let text_len = dict.len() + 1;
    let pad_for = |prefix: usize| ALIGN - (prefix + text_len) % ALIGN;
    // Version 1.0 when the header length fits its u16, as numpy chooses.
    let (version, len_size) =
        if text_len + pad_for(MAGIC.len() + 4) <= usize::from(u16::MAX) { (1, 2) } else { (2, 4) };
    let prefix = MAGIC.len() + 2 + len_size;
    let pad = pad_for(prefix);
    let header_len = text_len + pad;
    let mut out = Vec::with_capacity(prefix + header_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_size == 2 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// Python's `repr` of a shape tuple: `()`, `(3,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

fn parse_descr(descr: &str) -> std::result::Result<Dtype, String> {
    let unsupported =
        || format!("dtype '{descr}' is not supported; qforge reads float32, float64, int8, int32 and int64 arrays");
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('|', descr),
    };
    let dtype = match code {
        "f4" => Dtype::F32,
        "f8" => Dtype::F64,
        "i1" => Dtype::I8,
        "i4" => Dtype::I32,
        "i8" => Dtype::I64,
        _ => return Err(unsupported()),
    };
    let little = order == '<' || (order == '=' && cfg!(target_endian = "little"));
    if dtype.size() > 1 && !little {
        return Err(format!("dtype '{descr}' is not little-endian; convert it with arr.astype('<{code}')"));
    }
    Ok(dtype)
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A Python literal as it can appear in a `.npy` header.
enum Literal {
    Str(String),
    Bool(bool),
    Int(usize),
    Tuple(Vec<Literal>),
    List,
}

fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = LiteralParser { chars: text.chars().collect(), pos: 0, depth: 0 };
    let entries = p.dict()?;
    p.skip_space();
    if p.pos != p.chars.len() {
        return Err("unexpected text after the header dict".into());
    }
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        match (key.as_str(), value) {
            ("descr", Literal::Str(s)) => descr = Some(s),
            ("descr", Literal::List) => return Err("structured dtypes are not supported".into()),
            ("fortran_order", Literal::Bool(b)) => fortran_order = Some(b),
            ("shape", Literal::Tuple(dims)) => {
                let dims = dims
                    .into_iter()
                    .map(|d| match d {
                        Literal::Int(n) => Ok(n),
                        _ => Err("'shape' must be a tuple of integers".to_string()),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                shape = Some(dims);
            }
            ("descr" | "fortran_order" | "shape", _) => return Err(format!("'{key}' has the wrong type")),
            _ => return Err(format!("unexpected key '{key}'")),
        }
    }
    Ok(Header {
        descr: descr.ok_or("'descr' is missing")?,
        fortran_order: fortran_order.ok_or("'fortran_order' is missing")?,
        shape: shape.ok_or("'shape' is missing")?,
    })
}

/// A small recursive-descent parser for the Python literals numpy writes in headers.
struct LiteralParser {
    chars: Vec<char>,
    pos: usize,
    /// Nesting depth of tuples and lists, bounded so that a hostile header cannot
    /// exhaust the stack.
    depth: usize,
}

impl LiteralParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> std::result::Result<(), String> {
        self.skip_space();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{c}' at character {}", self.pos))
        }
    }

    /// Parses `{key: value, ...}` with an optional trailing comma.
    fn dict(&mut self) -> std::result::Result<Vec<(String, Literal)>, String> {
        self.expect('{')?;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(entries);
            }
            let key = match self.value()? {
                Literal::Str(s) => s,
                _ => return Err("dict keys must be strings".into()),
            };
            self.expect(':')?;
            let value = self.value()?;
            entries.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(format!("expected ',' or '}}' at character {}", self.pos)),
            }
        }
    }

    /// Parses a sequence closed by `close`, after its opening bracket.
    fn sequence(&mut self, close: char) -> std::result::Result<Vec<Literal>, String> {
        if self.depth >= 16 {
            return Err("the header nests too deeply".into());
        }
        self.depth += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                self.depth -= 1;
                return Ok(items);
            }
            items.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => return Err(format!("expected ',' or '{close}' at character {}", self.pos)),
            }
        }
    }

    fn value(&mut self) -> std::result::Result<Literal, String> {
        self.skip_space();
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != q) {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err("unterminated string".into());
                }
                let s: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                Ok(Literal::Str(s))
            }
            Some('(') => {
                self.pos += 1;
                Ok(Literal::Tuple(self.sequence(')')?))
            }
            Some('[') => {
                self.pos += 1;
                self.sequence(']')?;
                Ok(Literal::List)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                // Python 2 wrote long integers with an `L` suffix.
                if self.peek() == Some('L') {
                    self.pos += 1;
                }
                digits.parse().map(Literal::Int).map_err(|_| format!("integer {digits} is too large"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    _ => Err(format!("unexpected '{word}'")),
                }
            }
            Some(c) => Err(format!("unexpected '{c}' at character {}", self.pos)),
            None => Err("the header ends early".into()),
        }
    }
}
