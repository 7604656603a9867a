//! The compile cache of the build-time doors.
//!
//! An entry is a folder `<root>/<key>/` holding `body.rs` (the module's tokens),
//! `weights.bin` (the blob), `model` (the model file it was compiled from) and `used` (an
//! empty file whose modification time is the entry's last use). The key is a SHA-256 over
//! the compiler's version and source fingerprint, the bytes of every input file and every
//! option (see `Options::key`), so an entry never goes stale: a changed input is a new key.
//! Entries are written to a temporary folder beside the final one and renamed into place,
//! so a parallel build sees a whole entry or none.
//!
//! Pruning ([`prune`], run after each new entry is written) bounds the cache: of the
//! entries compiled from one model file, the [`Policy::keep`] most recently used stay; any
//! entry unused for [`Policy::max_age`] goes; so do temporary folders a crashed build left.
//! Nothing used within [`Policy::grace`] is ever removed. That is the rule that keeps
//! concurrent builds safe: a build marks an entry used (under a shared lock on `<root>/.lock`)
//! before it reads it, and the macro door's `include_bytes!` of the blob follows within
//! the same compiler run, well inside the grace period. The pruner decides and moves entries
//! out of the way under the exclusive lock, so no build can mark an entry between the
//! pruner's check and the move; it never waits for the lock (a busy cache is pruned next
//! time). A crate whose entry was pruned still builds: cargo sees the embedded blob gone,
//! rebuilds the crate, and the door compiles the model again.
//!
//! The root ([`root`]) is, in order:
//! 1. `QFORGE_CACHE_DIR`, if set;
//! 2. `$CARGO_TARGET_DIR/qforge-cache`, if `CARGO_TARGET_DIR` is set;
//! 3. `<target>/qforge-cache`, where `<target>` is the nearest folder above `OUT_DIR` (set for
//!    build scripts, and for crates that have one) holding cargo's `CACHEDIR.TAG`;
//! 4. `<dir>/target/qforge-cache` for the nearest `<dir>` at or above the crate's folder
//!    (`CARGO_MANIFEST_DIR`) whose `target/` holds a `CACHEDIR.TAG`;
//! 5. `target/qforge-cache` in the crate's folder.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Version of the entry layout, part of every key.
pub const FORMAT: &str = "qforge-cache-2";

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

/// The lock file that orders marking entries used against pruning them.
fn lock_file(root: &Path) -> io::Result<File> {
    File::options().read(true).write(true).create(true).truncate(false).open(root.join(".lock"))
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

    /// The module body, if the entry is complete; marks the entry used (see [`prune`]).
    pub fn read(&self) -> Option<String> {
        // The shared lock keeps a pruner from deciding about this entry while it is marked.
        // Without a lock (a file system that has none), the grace period alone protects it.
        let lock = lock_file(&self.root).ok();
        if let Some(l) = &lock {
            let _ = l.lock_shared();
        }
        // An entry without its mark is being retired, or was written by an older layout.
        let mark = File::options().write(true).open(self.dir.join("used")).ok()?;
        let _ = mark.set_modified(SystemTime::now());
        let body = std::fs::read_to_string(self.dir.join("body.rs")).ok()?;
        self.blob().is_file().then_some(body)
    }

    /// Writes the entry atomically, compiled from the model file `model` (the group it is
    /// pruned in). If another build wrote it meanwhile, theirs is kept (it has the same
    /// contents: same key).
    pub fn write(&self, body: &str, blob: &[u8], model: &str) -> io::Result<()> {
        let context = |what: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", what.display()));
        std::fs::create_dir_all(&self.root).map_err(|e| context(&self.root, e))?;
        let tmp = self.root.join(format!(".tmp-{}-{}", self.key, unique()));
        let result = (|| {
            std::fs::create_dir_all(&tmp).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("weights.bin"), blob).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("body.rs"), body).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("model"), model).map_err(|e| context(&tmp, e))?;
            std::fs::write(tmp.join("used"), "").map_err(|e| context(&tmp, e))?;
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

/// Unique per process (pid) and per call within it (counter): names of temporary folders.
fn unique() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// How much [`prune`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Entries kept per model file (the most recently used).
    pub keep: usize,
    /// Entries (and temporary folders) used or written within this long are never removed.
    pub grace: Duration,
    /// Entries unused for this long are removed, whatever their model.
    pub max_age: Duration,
}

impl Policy {
    /// The doors' policy: 8 entries per model file, one hour of grace, 30 days at most.
    pub const DEFAULT: Policy =
        Policy { keep: 8, grace: Duration::from_secs(3600), max_age: Duration::from_secs(30 * 24 * 3600) };
}

/// Removes the entries of `root` that `policy` does not keep, as of `now`: the entries of
/// the model file `model` beyond the `policy.keep` most recently used, every entry unused
/// for `policy.max_age`, and temporary folders older than `policy.grace`; never anything
/// used within `policy.grace`. Returns how many folders went. Best effort: a folder that
/// cannot be read or moved is left alone, and when another build holds the cache's lock
/// nothing is pruned this time.
pub fn prune(root: &Path, model: &str, policy: &Policy, now: SystemTime) -> usize {
    let Ok(lock) = lock_file(root) else { return 0 };
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return 0,
        // No locks on this file system: prune on the grace period alone.
        Err(TryLockError::Error(_)) => {}
    }
    let Ok(listing) = std::fs::read_dir(root) else { return 0 };
    let age = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut retire = Vec::new();
    let mut group = Vec::new();
    for item in listing.flatten() {
        let (name, path) = (item.file_name().to_string_lossy().into_owned(), item.path());
        if !item.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if name.starts_with('.') {
            // Left by a build that stopped mid-write, or by a pruner that stopped mid-way.
            let temporary = name.starts_with(".tmp-") || name.starts_with(".old-");
            if temporary && modified(&path).is_some_and(|t| age(t) > policy.grace) {
                retire.push(path);
            }
            continue;
        }
        // An entry of an older layout has no mark: its folder's time stands in.
        let Some(used) = modified(&path.join("used")).or_else(|| modified(&path)) else { continue };
        if std::fs::read_to_string(path.join("model")).is_ok_and(|m| m == model) {
            group.push((used, path));
        } else if age(used) > policy.max_age.max(policy.grace) {
            retire.push(path);
        }
    }
    group.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (i, (used, path)) in group.into_iter().enumerate() {
        if (i >= policy.keep || age(used) > policy.max_age) && age(used) > policy.grace {
            retire.push(path);
        }
    }
    // Moved aside under the lock (a rename is atomic), removed after it is released.
    let mut aside = Vec::new();
    for path in retire {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let to = root.join(format!(".old-{}-{}", name.trim_start_matches('.'), unique()));
        if std::fs::rename(&path, &to).is_ok() {
            aside.push(to);
        }
    }
    drop(lock);
    aside.into_iter().filter(|p| std::fs::remove_dir_all(p).is_ok()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("qforge-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    /// The folders under `root`, sorted (the lock file is not one).
    fn folders(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .expect("root")
            .flatten()
            .filter(|d| d.file_type().is_ok_and(|t| t.is_dir()))
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn key(i: usize) -> String {
        format!("{i:032x}")
    }

    /// Writes entry `i` of `model` and backdates its last use to `used`.
    fn entry_used_at(root: &Path, i: usize, model: &str, used: SystemTime) {
        Entry::new(root, &key(i)).write("fn m() {}", &[i as u8], model).expect("write");
        let mark = File::options().write(true).open(root.join(key(i)).join("used")).expect("mark");
        mark.set_modified(used).expect("backdate");
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn entries_are_whole_or_absent_and_a_second_writer_keeps_the_first() {
        let root = scratch("whole");
        let e = Entry::new(&root, &"ab".repeat(32));
        assert_eq!(e.read(), None);
        e.write("fn a() {}", &[1, 2, 3], "m.onnx").expect("write");
        assert_eq!(e.read().as_deref(), Some("fn a() {}"));
        assert_eq!(std::fs::read(e.blob()).expect("blob"), vec![1, 2, 3]);
        e.write("fn a() {}", &[1, 2, 3], "m.onnx").expect("second write");
        assert_eq!(folders(&root), ["ab".repeat(16)], "temporary folders were left behind");
        // An entry without its blob, or without its mark, is not an entry.
        std::fs::remove_file(e.blob()).expect("remove");
        assert_eq!(e.read(), None);
        e.write("fn a() {}", &[1, 2, 3], "m.onnx").ok();
        let _ = std::fs::remove_dir_all(&root);
        e.write("fn a() {}", &[1, 2, 3], "m.onnx").expect("write");
        std::fs::remove_file(root.join("ab".repeat(16)).join("used")).expect("remove the mark");
        assert_eq!(e.read(), None);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn parallel_writers_of_one_entry_all_succeed_and_leave_one_whole_entry() {
        let root = scratch("race");
        let blob = vec![7u8; 1 << 20];
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| Entry::new(&root, &"cd".repeat(32)).write("fn b() {}", &blob, "m.onnx").expect("write"));
            }
        });
        let e = Entry::new(&root, &"cd".repeat(32));
        assert_eq!(e.read().as_deref(), Some("fn b() {}"));
        assert_eq!(std::fs::read(e.blob()).expect("blob"), blob);
        assert_eq!(folders(&root), ["cd".repeat(16)], "temporary folders were left behind");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn pruning_keeps_the_most_recently_used_entries_of_the_model_and_drops_long_unused_ones() {
        let root = scratch("prune");
        let now = SystemTime::now();
        // Twelve entries of a.onnx, entry i last used (12 - i) days ago; b.onnx used 10 days
        // ago, c.onnx 40 days ago.
        for i in 0..12 {
            entry_used_at(&root, i, "a.onnx", now - DAY * (12 - i as u32));
        }
        entry_used_at(&root, 20, "b.onnx", now - DAY * 10);
        entry_used_at(&root, 30, "c.onnx", now - DAY * 40);
        // A build reads the oldest entry of a.onnx: that is a use.
        assert!(Entry::new(&root, &key(0)).read().is_some());
        let removed = prune(&root, "a.onnx", &Policy::DEFAULT, SystemTime::now());
        // Kept: the read one and the 7 next most recent (5..=11); gone: 1..=4, and c.onnx.
        let mut want: Vec<String> = [0, 5, 6, 7, 8, 9, 10, 11, 20].iter().map(|&i| key(i)).collect();
        want.sort();
        assert_eq!(folders(&root), want);
        assert_eq!(removed, 5);
        // Pruning again changes nothing.
        assert_eq!(prune(&root, "a.onnx", &Policy::DEFAULT, SystemTime::now()), 0);
        assert_eq!(folders(&root), want);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn nothing_used_within_the_grace_period_is_pruned() {
        let root = scratch("grace");
        let now = SystemTime::now();
        for i in 0..12 {
            entry_used_at(&root, i, "a.onnx", now - Duration::from_secs(60 * (12 - i as u64)));
        }
        // A build that stopped mid-write left a temporary folder.
        std::fs::create_dir_all(root.join(".tmp-x-1-0")).expect("temporary folder");
        assert_eq!(prune(&root, "a.onnx", &Policy::DEFAULT, now), 0);
        assert_eq!(folders(&root).len(), 13);
        // Two hours on, the four least recently used entries and the temporary folder go.
        assert_eq!(prune(&root, "a.onnx", &Policy::DEFAULT, now + 2 * HOUR), 5);
        let want: Vec<String> = (4..12).map(key).collect();
        assert_eq!(folders(&root), want);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_pruner_skips_while_a_build_holds_the_lock() {
        let root = scratch("lock");
        let now = SystemTime::now();
        for i in 0..10 {
            entry_used_at(&root, i, "a.onnx", now - DAY * 2);
        }
        // A build marking an entry used holds the shared lock: the pruner does not wait.
        let reader = lock_file(&root).expect("lock file");
        reader.lock_shared().expect("shared lock");
        assert_eq!(prune(&root, "a.onnx", &Policy::DEFAULT, now), 0);
        assert_eq!(folders(&root).len(), 10);
        drop(reader);
        assert_eq!(prune(&root, "a.onnx", &Policy::DEFAULT, now), 2);
        assert_eq!(folders(&root).len(), 8);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_reader_waits_for_a_pruner_mid_decision_and_then_misses_what_it_retired() {
        let root = scratch("order");
        entry_used_at(&root, 0, "a.onnx", SystemTime::now() - DAY * 2);
        // The test plays a pruner that has found entry 0 stale and holds the lock.
        let pruner = lock_file(&root).expect("lock file");
        pruner.lock().expect("exclusive lock");
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let hit = Entry::new(&root, &key(0)).read();
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                hit
            });
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                !done.load(std::sync::atomic::Ordering::SeqCst),
                "the reader marked an entry the pruner is deciding on"
            );
            std::fs::rename(root.join(key(0)), root.join(".old-x")).expect("retire");
            drop(pruner);
            assert_eq!(reader.join().expect("reader"), None, "the retired entry is a miss");
        });
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn readers_racing_a_pruner_always_find_whole_entries() {
        let root = scratch("readers");
        let long_ago = SystemTime::now() - DAY * 2;
        for i in 0..16 {
            entry_used_at(&root, i, "a.onnx", long_ago);
        }
        let keep_nothing = Policy { keep: 0, grace: Duration::from_secs(60), max_age: DAY * 30 };
        let hit: [std::sync::atomic::AtomicBool; 8] = Default::default();
        // Readers try entries 0..8, all stale, while pruners retire whatever is unused: each
        // entry is either read (then its blob is there, and it stays) or pruned first (then
        // it is a miss), never half of each.
        std::thread::scope(|s| {
            for r in 0..3 {
                let (root, hit) = (&root, &hit);
                s.spawn(move || {
                    for round in 0..200 {
                        let i = (round + r) % 8;
                        let e = Entry::new(root, &key(i));
                        if e.read().is_some() {
                            assert_eq!(std::fs::read(e.blob()).expect("a hit's blob is there").len(), 1);
                            hit[i].store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
            for _ in 0..2 {
                let (root, policy) = (&root, &keep_nothing);
                s.spawn(move || {
                    for _ in 0..50 {
                        prune(root, "a.onnx", policy, SystemTime::now());
                    }
                });
            }
        });
        prune(&root, "a.onnx", &keep_nothing, SystemTime::now());
        let want: Vec<String> =
            (0..8).filter(|&i| hit[i].load(std::sync::atomic::Ordering::Relaxed)).map(key).collect();
        assert_eq!(folders(&root), want, "entries read stay, the others are pruned");
        let _ = std::fs::remove_dir_all(&root);
    }
}
