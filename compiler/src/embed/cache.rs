//! The compile cache of the build-time doors.
//!
//! An entry is a folder `<root>/<key>/` holding `body.rs` (the module's tokens) and
//! `weights.bin` (the blob). The key is a SHA-256 over the compiler's version and source
//! fingerprint, the bytes of every input file and every option (see `Options::key`), so an
//! entry never goes stale: a changed input is a new key. Entries are written to a temporary
//! folder beside the final one and renamed into place, so a parallel build sees a whole
//! entry or none. Old entries are not removed (`cargo clean` removes them with the rest).
//!
//! The root ([`root`]) is, in order:
//! 1. `QFORGE_CACHE_DIR`, if set;
//! 2. `$CARGO_TARGET_DIR/qforge-cache`, if `CARGO_TARGET_DIR` is set;
//! 3. `<target>/qforge-cache`, where `<target>` is the nearest folder above `OUT_DIR` (set for
//!    build scripts, and for crates that have one) holding cargo's `CACHEDIR.TAG`;
//! 4. `<dir>/target/qforge-cache` for the nearest `<dir>` at or above the crate's folder
//!    (`CARGO_MANIFEST_DIR`) whose `target/` holds a `CACHEDIR.TAG`;
//! 5. `target/qforge-cache` in the crate's folder.

use std::io;
use std::path::{Path, PathBuf};

/// Version of the entry layout, part of every key.
pub const FORMAT: &str = "qforge-cache-1";

/// The cache root for a crate in `manifest_dir`, by the rule in this module's docs.
pub fn root(manifest_dir: &Path) -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("QFORGE_CACHE_DIR") {
        return absolute(dir);
    }
    if let Some(dir) = var("CARGO_TARGET_DIR") {
        return absolute(dir).join("qforge-cache");
    }
    if let Some(out) = var("OUT_DIR") {
        if let Some(target) = out.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return target.join("qforge-cache");
        }
    }
    if let Some(dir) = manifest_dir.ancestors().find(|d| d.join("target/CACHEDIR.TAG").is_file()) {
        return dir.join("target/qforge-cache");
    }
    manifest_dir.join("target/qforge-cache")
}

/// Relative paths are taken from the current folder, as cargo does for `CARGO_TARGET_DIR`.
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// One cache entry.
#[derive(Clone, Debug)]
pub struct Entry {
    root: PathBuf,
    dir: PathBuf,
    key: String,
}

impl Entry {
    /// The entry for `key` under `root` (which need not exist yet).
    pub fn new(root: &Path, key: &str) -> Self {
        let key = key[..key.len().min(32)].to_string();
        Entry { root: root.to_path_buf(), dir: root.join(&key), key }
    }

    /// The blob's path.
    pub fn blob(&self) -> PathBuf {
        self.dir.join("weights.bin")
    }

    /// The module body, if the entry is complete.
    pub fn read(&self) -> Option<String> {
        let body = std::fs::read_to_string(self.dir.join("body.rs")).ok()?;
        self.blob().is_file().then_some(body)
    }

    /// Writes the entry atomically. If another build wrote it meanwhile, theirs is kept
    /// (it has the same contents: same key).
    pub fn write(&self, body: &str, blob: &[u8]) -> io::Result<()> {
        let context = |what: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", what.display()));
        std::fs::create_dir_all(&self.root).map_err(|e| context(&self.root, e))?;
        // Unique per process (pid) and per write within it (counter).
        static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.root.join(format!(".tmp-{}-{}-{n}", self.key, std::process::id()));
        let result = (|| {
            std::fs::create_dir_all(&tmp).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("weights.bin"), blob).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("body.rs"), body).map_err(|e| context(&tmp, e))?;
            match std::fs::rename(&tmp, &self.dir) {
                Ok(()) => Ok(()),
                // Another build renamed its copy first.
                Err(_) if self.read().is_some() => Ok(()),
                Err(e) => Err(context(&self.dir, e)),
            }
        })();
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_whole_or_absent_and_a_second_writer_keeps_the_first() {
        let root = std::env::temp_dir().join(format!("qforge-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let e = Entry::new(&root, &"ab".repeat(32));
        assert_eq!(e.read(), None);
        e.write("fn a() {}", &[1, 2, 3]).expect("write");
        assert_eq!(e.read().as_deref(), Some("fn a() {}"));
        assert_eq!(std::fs::read(e.blob()).expect("blob"), vec![1, 2, 3]);
        e.write("fn a() {}", &[1, 2, 3]).expect("second write");
        let leftovers: Vec<_> = std::fs::read_dir(&root).expect("root").flatten().map(|d| d.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "temporary folders were left behind: {leftovers:?}");
        // An entry without its blob is not an entry.
        std::fs::remove_file(e.blob()).expect("remove");
        assert_eq!(e.read(), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn parallel_writers_of_one_entry_all_succeed_and_leave_one_whole_entry() {
        let root = std::env::temp_dir().join(format!("qforge-cache-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let blob = vec![7u8; 1 << 20];
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| Entry::new(&root, &"cd".repeat(32)).write("fn b() {}", &blob).expect("write"));
            }
        });
        let e = Entry::new(&root, &"cd".repeat(32));
        assert_eq!(e.read().as_deref(), Some("fn b() {}"));
        assert_eq!(std::fs::read(e.blob()).expect("blob"), blob);
        let entries: Vec<_> = std::fs::read_dir(&root).expect("root").flatten().map(|d| d.file_name()).collect();
        assert_eq!(entries.len(), 1, "temporary folders were left behind: {entries:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
