//! Whole files written safely: created owner-only (plans, journals and reports name every
//! principal of every entity), written beside their final path, synced, and renamed into
//! place, so a reader sees the old file or the new one and never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output path handover will not write over, named with why, in one line: one that
/// exists and is not a regular file (a device, a fifo, a socket, a directory, or a symlink
/// to one), or a handover journal (issue 20). handover writes its files beside their path
/// and renames them onto it, which would replace a device itself (`--journal /dev/null` as
/// root would replace the system's `/dev/null`) and would throw a run's record away. The
/// exit code is [`crate::exit::INVALID_INPUT`] wherever this error sits in a chain, and
/// `exit::print_error` prints it alone, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{} {why}", path.display())]
pub struct RefusedOutput {
    /// The path as given.
    pub path: PathBuf,
    /// Why, after the path: `is a character device, not a regular file; …`.
    pub why: String,
}

impl RefusedOutput {
    /// A refusal of `path` for `why` (the words after the path).
    pub fn new(path: &Path, why: impl Into<String>) -> RefusedOutput {
        RefusedOutput {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// Refuses an output path that exists and is not a regular file, following symlinks (a
/// symlink to a device is refused; a dangling one, or one to a regular file, is not).
/// Never opens the path: opening a fifo would block.
pub fn check_not_a_file(path: &Path) -> Result<(), RefusedOutput> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else {
        device_kind(&kind)
    };
    Err(RefusedOutput::new(
        path,
        format!("is {what}, not a regular file; refusing to write over it (name a file)"),
    ))
}

/// How every journal's first line starts (`journal::record::Header` serialised; a test
/// there keeps the two in step). `base` cannot name the journal module, which sits above it.
pub const JOURNAL_SIGNATURE: &[u8] = br#"{"type":"header","format":"handover-journal""#;

/// Whether the regular file at `path` is a handover journal, by its first bytes.
pub fn is_journal(path: &Path) -> bool {
    use std::io::Read;
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mut head = [0u8; JOURNAL_SIGNATURE.len()];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == JOURNAL_SIGNATURE)
}

/// Refuses an output path that is not a regular file ([`check_not_a_file`]) or that is a
/// handover journal: no report, page, plan or failed-plan may replace a run's record. The
/// refusal offers the command that continues the run.
pub fn check_output(path: &Path) -> Result<(), RefusedOutput> {
    check_not_a_file(path)?;
    if is_journal(path) {
        return Err(RefusedOutput::new(
            path,
            format!(
                "is a handover journal; refusing to write over it (to continue its run: \
                 handover resume --journal {}; or name another file)",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn device_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a fifo"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn device_kind(_: &fs::FileType) -> &'static str {
    "not a file"
}

/// The [`RefusedOutput`] somewhere in `error`'s chain, if any (inside an `io::Error` too).
pub fn refused_output_in<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a RefusedOutput> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<RefusedOutput>() {
            return Some(found);
        }
        if let Some(found) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<RefusedOutput>())
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// Opens `path` for writing, created if absent, readable and writable by its owner only.
pub fn create_private(path: &Path, create_new: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a rename in `path`'s directory durable. Best effort: some filesystems refuse to
/// sync a directory, and the data itself was synced before the rename.
pub fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// A file written under a temporary name beside `path` and renamed onto it by
/// [`commit`](AtomicFile::commit); dropped uncommitted, the temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    committed: bool,
}

impl AtomicFile {
    /// Starts the file that will become `path`.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        check_output(path).map_err(io::Error::other)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
        let file = create_private(&tmp, true)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            out: BufWriter::new(file),
            committed: false,
        })
    }

    /// The path the file gets on commit.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        sync_dir(&self.path);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Defuses spreadsheet formulas in a CSV cell meant for people: a cell a spreadsheet would
/// evaluate (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`.
pub fn spreadsheet_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_files_appear_whole_and_private_and_abandoned_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!path.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let abandoned = AtomicFile::create(&dir.path().join("gone.txt")).unwrap();
        drop(abandoned);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[cfg(unix)]
    #[test]
    fn outputs_that_are_not_regular_files_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // A fifo stands in for a device: making one needs no privilege.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        for (path, what) in [
            (&fifo, "a fifo"),
            (&link, "a fifo"),
            (&sub, "a directory"),
            (&PathBuf::from("/dev/null"), "a character device"),
        ] {
            let err = AtomicFile::create(path).err().expect("refused");
            let found = refused_output_in(&err).expect("a RefusedOutput inside");
            assert!(found.why.starts_with(&format!("is {what}, not")), "{found}");
            assert!(err.to_string().contains(&path.display().to_string()));
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // Only the three made here: no temporary file left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
        // A regular file, a dangling link and a new name are fine.
        fs::write(dir.path().join("plain"), "x").unwrap();
        assert!(check_output(&dir.path().join("plain")).is_ok());
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("dangling"))
            .unwrap();
        assert!(check_output(&dir.path().join("dangling")).is_ok());
        assert!(check_output(&dir.path().join("new")).is_ok());

        // A journal is not replaced either, and the refusal offers its resume.
        let journal = dir.path().join("j.jsonl");
        let mut text = JOURNAL_SIGNATURE.to_vec();
        text.extend_from_slice(b",\"version\":1}\n");
        fs::write(&journal, &text).unwrap();
        let err = AtomicFile::create(&journal).err().expect("refused");
        assert!(
            err.to_string()
                .contains(&format!("handover resume --journal {}", journal.display())),
            "{err}"
        );
        assert_eq!(fs::read(&journal).unwrap(), text);
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(spreadsheet_cell("=1+1"), "'=1+1");
        assert_eq!(spreadsheet_cell("-x"), "'-x");
        assert_eq!(spreadsheet_cell("alice@x.com"), "alice@x.com");
    }
}
