//! Building the weight blob: int8 arrays (the packed weights the kernels stream with
//! 64-byte loads) each starting on a cache line, int32 arrays on a 16-byte boundary.

use super::program::BlobRef;

/// The blob under construction.
#[derive(Default)]
pub struct BlobBuilder {
    bytes: Vec<u8>,
}

impl BlobBuilder {
    fn align(&mut self, to: usize) {
        while !self.bytes.len().is_multiple_of(to) {
            self.bytes.push(0);
        }
    }

    /// Appends int8 values.
    ///
    /// Each array starts on a 64-byte line: a 512-bit load of weights that straddles two
    /// lines costs two. MobileNetV2's 1x1 convolutions ran 4 to 5% faster with their
    /// weights aligned (`bench_gemm`, `MISALIGN=16` for the other case), the whole model
    /// 4% on one thread.
    pub fn push_i8(&mut self, values: &[i8]) -> BlobRef {
        self.align(BLOB_ALIGN);
        let offset = self.bytes.len();
        self.bytes.extend(values.iter().map(|&v| v as u8));
        BlobRef { offset, len: values.len() }
    }

    /// Appends int32 values, little-endian.
    pub fn push_i32(&mut self, values: &[i32]) -> BlobRef {
        self.align(16);
        let offset = self.bytes.len();
        for v in values {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        BlobRef { offset, len: values.len() }
    }

    /// The finished blob (padded to a multiple of 16 bytes).
    pub fn finish(mut self) -> Vec<u8> {
        self.align(16);
        self.bytes
    }
}

/// The alignment of the blob's start, and of each int8 array in it.
pub const BLOB_ALIGN: usize = 64;

/// A copy of `blob` starting at a 64-byte aligned address, as the kernels' typed views need
/// (the emitted crate gets the same alignment from `qrt::blob::Aligned`).
pub struct AlignedBlob {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBlob {
    /// Copies `blob` into aligned storage.
    pub fn new(blob: &[u8]) -> Self {
        let mut storage = vec![0u8; blob.len() + BLOB_ALIGN];
        let start = storage.as_ptr().align_offset(BLOB_ALIGN).min(BLOB_ALIGN);
        storage[start..start + blob.len()].copy_from_slice(blob);
        AlignedBlob { storage, start, len: blob.len() }
    }

    /// The aligned bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}
