//! The journal's one writer: creating or reopening the file under an exclusive lock,
//! buffering records, and making them durable in batches.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::Error;
use super::record::{Header, Record};
use super::replay::{Replay, scan};

/// Owner-only: a journal holds every access list it touched, and who may see what is the
/// very thing handover changes.
const MODE: u32 = 0o600;

/// Counters for benchmarks: how well group commit batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Successful syncs (fdatasyncs), the one at creation included.
    pub syncs: u64,
    /// Records made durable by this `Journal`.
    pub records: u64,
    /// Bytes made durable by this `Journal`.
    pub bytes: u64,
}

/// An open journal, locked for this process until dropped.
///
/// Records are buffered by [`append`](Journal::append) and reach the disk only at
/// [`sync`](Journal::sync): the coordinator appends a batch (an intent for every write it
/// is about to dispatch, an outcome for every worker that reported), syncs once, and only
/// then dispatches those writes and shows those outcomes. An intent must be synced before
/// its request is sent, or a crash could lose the access list it records. Records still
/// buffered when the `Journal` is dropped are lost, which is safe as long as nothing was
/// done on their strength.
pub struct Journal {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    pending_records: usize,
    /// The length of the file up to the last record known to be whole on disk.
    durable_len: u64,
    poisoned: bool,
    stats: Stats,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("pending_records", &self.pending_records)
            .field("durable_len", &self.durable_len)
            .field("poisoned", &self.poisoned)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Journal {
    /// Creates a new journal (owner-only), locks it, writes `header` and makes both the
    /// file and its directory entry durable. Refuses with [`Error::Exists`] if `path`
    /// exists: resuming is [`Journal::open_existing`], and the executor chooses.
    ///
    /// The journal is made under a temporary name, locked and given its header there, and
    /// only then linked into place: a link never replaces an existing file, so of two
    /// processes racing to start the same run exactly one gets the name, and whoever sees
    /// the journal at `path` sees it whole and locked.
    pub fn create(path: impl AsRef<Path>, header: &Header) -> Result<Journal, Error> {
        let path = path.as_ref();
        let create_err = |source| Error::Create {
            path: path.to_path_buf(),
            source,
        };
        crate::files::check_not_a_file(path)?;
        if path.exists() {
            return Err(Error::Exists {
                path: path.to_path_buf(),
            });
        }
        let temp = temp_path(path);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(MODE)
            .open(&temp)
            .map_err(create_err)?;
        // The temporary file goes whatever happens; on success `path` names it too.
        let made = (|| -> Result<Journal, Error> {
            lock(&file, &temp)?;
            // Under the temporary name until it has `path`: a loser of the race must not
            // touch the winner's pid file.
            let mut journal = Journal::locked(&temp, file, 0);
            journal.append(&Record::Header(header.clone()));
            journal.sync()?;
            fs::hard_link(&temp, path).map_err(|source| match source.kind() {
                io::ErrorKind::AlreadyExists => Error::Exists {
                    path: path.to_path_buf(),
                },
                _ => create_err(source),
            })?;
            let _ = fs::remove_file(pid_path(&temp));
            journal.path = path.to_path_buf();
            write_pid(path);
            Ok(journal)
        })();
        let _ = fs::remove_file(&temp);
        let journal = made?;
        sync_dir(path).map_err(create_err)?;
        Ok(journal)
    }

    /// Opens an existing journal to resume it: locks it, replays it, and cuts off a torn
    /// last line so that the next record starts on a line of its own. Appends nothing;
    /// the caller checks the replay ([`Replay::check_matches`]) and then appends a
    /// [`Resume`](super::Resume) record.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<(Journal, Replay), Error> {
        let path = path.as_ref();
        // A device or fifo named as the journal reads as empty, which would pass for a
        // torn header and be removed and replaced.
        crate::files::check_not_a_file(path)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Open {
                path: path.to_path_buf(),
                source,
            })?;
        lock(&file, path)?;
        let mut journal = Journal::locked(path, file, 0);
        // The replay reads through a handle of its own: one that shared the locked file
        // would keep the lock for as long as the replay lives.
        let for_replay = File::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let replay = scan(for_replay, path)?;
        journal.durable_len = replay.good_len();
        if let Some(torn) = replay.torn_tail() {
            journal
                .file
                .set_len(torn.offset)
                .and_then(|()| journal.file.sync_data())
                .map_err(|source| Error::Write {
                    path: path.to_path_buf(),
                    source,
                })?;
            tracing::warn!(
                journal = %path.display(),
                line = torn.line,
                bytes = torn.bytes,
                "dropped a torn last line left by an interrupted write"
            );
        }
        Ok((journal, replay))
    }

    /// Wraps a file this process has just locked, and says so in the pid file.
    fn locked(path: &Path, file: File, len: u64) -> Journal {
        write_pid(path);
        Journal {
            path: path.to_path_buf(),
            file,
            pending: Vec::with_capacity(64 * 1024),
            pending_records: 0,
            durable_len: len,
            poisoned: false,
            stats: Stats::default(),
        }
    }

    /// Buffers one record. Nothing reaches the disk until [`Journal::sync`], so appending
    /// cannot fail.
    pub fn append(&mut self, record: &Record) {
        serde_json::to_writer(&mut self.pending, record)
            .expect("a record always serialises: its maps have string keys and Values hold no NaN");
        // Compact JSON escapes control characters, so this is the record's only newline.
        self.pending.push(b'\n');
        self.pending_records += 1;
    }

    /// Writes every record appended so far and waits until they are on disk (fdatasync).
    /// Returns at once if nothing is pending. After a failure the journal is poisoned:
    /// every later sync fails too, and the run should stop and be resumed.
    pub fn sync(&mut self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned {
                path: self.path.clone(),
            });
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&self.pending) {
            self.poisoned = true;
            // Best effort: cut a partial write off, so the file still ends on a whole record
            // and a resume does not find damage in the middle once more lines follow.
            let _ = self.file.set_len(self.durable_len);
            return Err(Error::Write {
                path: self.path.clone(),
                source,
            });
        }
        if let Err(source) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages and will not
            // report it again: no later sync could vouch for these records.
            self.poisoned = true;
            return Err(Error::Write {
                path: self.path.clone(),
                source,
            });
        }
        let bytes = self.pending.len() as u64;
        self.durable_len += bytes;
        self.stats.syncs += 1;
        self.stats.records += self.pending_records as u64;
        self.stats.bytes += bytes;
        self.pending.clear();
        self.pending_records = 0;
        Ok(())
    }

    /// Syncs and closes: the end of a clean stop.
    pub fn close(mut self) -> Result<(), Error> {
        self.sync()
    }

    /// How many appended records are not yet synced.
    pub fn pending(&self) -> usize {
        self.pending_records
    }

    /// Counters since this `Journal` was opened.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Before the lock goes with the file handle, so that a process that takes the lock
        // next always writes its pid after this removal, never before it. A crash leaves
        // the pid file behind; it is only read while the lock is held, by then rewritten.
        let _ = fs::remove_file(pid_path(&self.path));
    }
}

/// Where a new journal is written before it is linked to `journal`: beside it, so that
/// the link stays on one file system, and named for this process.
fn temp_path(journal: &Path) -> PathBuf {
    let mut name = OsString::from(journal.as_os_str());
    name.push(format!(".new-{}", std::process::id()));
    PathBuf::from(name)
}

/// The sidecar file that names the process holding a journal's lock: `JOURNAL.pid`. It is
/// only informative, for the "in use" message; the lock itself is a `flock` on the journal,
/// which the kernel drops when its holder dies, however it dies.
pub fn pid_path(journal: &Path) -> PathBuf {
    let mut name = OsString::from(journal.as_os_str());
    name.push(".pid");
    PathBuf::from(name)
}

fn lock(file: &File, path: &Path) -> Result<(), Error> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: path.to_path_buf(),
            pid: read_pid(path),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Lock {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes this process's id to `JOURNAL.pid`. Called only with the journal's lock held.
/// Whatever is at that name goes first and the file is made anew (`create_new`, which
/// never follows a symlink): a symlink planted there must not make handover truncate and
/// write the file it points to (issue 20).
fn write_pid(journal: &Path) {
    let pid_path = pid_path(journal);
    let _ = fs::remove_file(&pid_path);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .open(&pid_path)
        .and_then(|mut f| writeln!(f, "{}", std::process::id()));
    if let Err(err) = written {
        // The pid only makes a refusal message more helpful; the lock does the work.
        tracing::debug!(path = %pid_path.display(), error = %err, "cannot write pid file");
    }
}

fn read_pid(journal: &Path) -> Option<u32> {
    fs::read_to_string(pid_path(journal))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Makes a new directory entry durable: fsyncing the file alone does not.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
