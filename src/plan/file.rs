//! The plan file: JSON Lines, written atomically and read back with its integrity checked.
//!
//! ```text
//! line 1      {"format":"handover-plan","version":1,…}        the PlanHeader
//! line 2..N+1 {"kind":"project","id":"…","action":"change",…} one PlanEntry each
//! line N+2    {"type":"end","entries":N,"digest":"sha256:…"}  the trailer
//! ```
//!
//! The digest is SHA-256 over the bytes of every line before the trailer (the header and
//! the entries), each with its `\n`. It covers the header too, so an edited endpoint or
//! caller is caught as surely as an edited entry. A truncated file lacks the trailer; an
//! edited one fails the count or the digest. Either way the reader names the file and the
//! line.
//!
//! Beside `plan.jsonl` the writer puts `plan.csv` for people with a spreadsheet (see
//! [`PlanWriter`] for its columns). It is a view: nothing reads it back.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::exit;
use crate::files::{AtomicFile, spreadsheet_cell};
use std::collections::HashMap;

use crate::model::{EntityKind, Grant, Role};

use super::diff::same_principal;
use super::entry::{ActionKind, FORMAT, PlanEntry, PlanHeader, VERSION};
use super::notebook::{NotebookNote, UseCaseInPlan};
use super::summary::Summary;

/// What can go wrong writing or reading a plan file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The plan (or its temp file, or its CSV) could not be written.
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line did not parse; `field` is the JSON path inside the line
    /// (`current[2].role`).
    #[error("{}:{line}: field {field}: {message}", .path.display())]
    Field {
        path: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    /// The file is not a plan, not this version, truncated or edited.
    #[error("{}:{line}: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

impl Error {
    /// The process exit code this error deserves: [`exit::INVALID_INPUT`] for a plan that
    /// cannot be read, [`exit::FATAL`] for one that cannot be written.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Write { .. } => exit::FATAL,
            Error::Read { .. } | Error::Field { .. } | Error::Invalid { .. } => exit::INVALID_INPUT,
        }
    }

    fn invalid(path: &Path, line: u64, message: impl Into<String>) -> Error {
        Error::Invalid {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// The last line of a plan.
///
/// Besides the count and the digest it says what a reviewer must know that no entry
/// carries: how many notifications applying causes (`notifications`, omitted when 0) and
/// the notebooks the departing users own (`notebooks`, omitted when none), which are read,
/// never written, and move with their use case. The digest does not cover these (they
/// are a report, not instructions: nothing applies them), and readers that predate them
/// ignore them.
#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    #[serde(rename = "type")]
    kind: String,
    entries: u64,
    digest: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    notifications: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notebooks: Vec<NotebookNote>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What [`PlanWriter::finish`] made.
#[derive(Clone, Debug)]
pub struct WrittenPlan {
    /// The plan file.
    pub path: PathBuf,
    /// Its companion CSV.
    pub csv_path: PathBuf,
    /// How many entries it holds.
    pub entries: u64,
    /// `sha256:<hex>`, as in the trailer.
    pub digest: String,
    /// Counts per kind and action.
    pub summary: Summary,
    /// The notebooks the departing users own, with what the plan does with their use
    /// cases ([`PlanWriter::note_notebooks`]); empty when none were looked for or found.
    pub notebooks: Vec<NotebookNote>,
}

/// The companion CSV's path: the plan's with its extension replaced by `.csv`
/// (`plan.jsonl` → `plan.csv`), or `.plan.csv` appended when the plan is itself named
/// `*.csv`.
pub fn companion_csv_path(plan: &Path) -> PathBuf {
    let is_csv = plan
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let mut name = plan.file_stem().unwrap_or_default().to_os_string();
        name.push(".plan.csv");
        plan.with_file_name(name)
    } else {
        plan.with_extension("csv")
    }
}

/// Writes a plan one entry at a time to temp files next to the target, and renames them
/// into place on [`finish`](PlanWriter::finish); dropping the writer unfinished removes
/// them. Files are created 0600 (they name every principal of every entity).
///
/// The companion CSV has one row per entry per principal that changes, and one row with
/// empty principal columns for a noop or refused entry:
///
/// | column | meaning |
/// |---|---|
/// | `type` | entity kind (`project`, `data_source`, …) |
/// | `id`, `name` | the entity |
/// | `action` | `change`, `noop` or `refused`; `revoke` for an offboarding's revoke-only change (the plan's `change` with `revoke_only`: a departing user's role on an entity no departing user owns) |
/// | `principal` | username, or group/organization name |
/// | `principal_type` | `user`, `group`, `organization`, `externalApplication` |
/// | `role_before`, `role_after` | `OWNER`, `EDITOR`, `CONSUMER`, or `NONE` for no access |
/// | `can_share_before` | `true`/`false`, empty when the server did not say |
/// | `can_share_after` | `true`/`false`, empty when the request leaves it to the server |
/// | `reason` | why a refused entry is refused |
/// | `notifies` | `yes` where sending this change makes DataRobot notify the principal (a user given a role on a secure configuration, contract §12 X5), which nothing on the wire stops; empty otherwise |
///
/// Cells starting with `=`, `+`, `-`, `@`, tab or CR get a leading `'`, so a spreadsheet
/// never runs a name as a formula.
pub struct PlanWriter {
    out: AtomicFile,
    csv: csv::Writer<AtomicFile>,
    hasher: Sha256,
    entries: u64,
    summary: Summary,
    /// The action of every use case entry written, to tell a notebook whether its use
    /// case moves.
    use_cases: HashMap<String, ActionKind>,
    notebooks: Vec<NotebookNote>,
}

/// The companion CSV's header row.
const CSV_COLUMNS: [&str; 12] = [
    "type",
    "id",
    "name",
    "action",
    "principal",
    "principal_type",
    "role_before",
    "role_after",
    "can_share_before",
    "can_share_after",
    "reason",
    "notifies",
];

impl PlanWriter {
    /// Starts a plan at `path` (and its CSV at [`companion_csv_path`]) with `header` as
    /// line 1. Nothing appears at either path until [`finish`](PlanWriter::finish).
    pub fn create(path: impl AsRef<Path>, header: &PlanHeader) -> Result<PlanWriter, Error> {
        let path = path.as_ref();
        let csv_path = companion_csv_path(path);
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Write { path, source }
        };
        let out = AtomicFile::create(path).map_err(write_err(path))?;
        let csv_file = AtomicFile::create(&csv_path).map_err(write_err(&csv_path))?;
        let mut writer = PlanWriter {
            out,
            csv: csv::Writer::from_writer(csv_file),
            hasher: Sha256::new(),
            entries: 0,
            summary: Summary::new(),
            use_cases: HashMap::new(),
            notebooks: Vec::new(),
        };
        writer.write_line(header)?;
        writer
            .csv
            .write_record(CSV_COLUMNS)
            .map_err(|e| writer.csv_error(e))?;
        Ok(writer)
    }

    /// Appends one entry.
    pub fn write(&mut self, entry: &PlanEntry) -> Result<(), Error> {
        self.write_line(entry)?;
        self.entries += 1;
        self.summary.add(entry);
        if entry.kind == EntityKind::UseCase {
            self.use_cases.insert(entry.id.clone(), entry.action);
        }
        for row in csv_rows(entry) {
            self.csv.write_record(&row).map_err(|e| self.csv_error(e))?;
        }
        Ok(())
    }

    /// Reports the notebooks the departing users own (call once every entry is written):
    /// each one's use case is looked up among the entries, and the notebook gets a row of
    /// action `read_only` in the review CSV, with what happens to it as the reason, and a
    /// place in the trailer. Nothing applies them: a notebook is never written.
    pub fn note_notebooks(&mut self, notes: Vec<NotebookNote>) -> Result<(), Error> {
        for mut note in notes {
            if let Some(uc) = &note.use_case_id {
                note.use_case = UseCaseInPlan::of(self.use_cases.get(uc).copied());
            }
            let reason = note.what_happens();
            for owner in &note.owners {
                let row = [
                    EntityKind::Notebook.as_str().to_string(),
                    spreadsheet_cell(&note.id),
                    spreadsheet_cell(&note.name),
                    "read_only".to_string(),
                    spreadsheet_cell(owner),
                    "user".to_string(),
                    "OWNER".to_string(),
                    "OWNER".to_string(),
                    String::new(),
                    String::new(),
                    spreadsheet_cell(&reason),
                    String::new(),
                ];
                self.csv.write_record(&row).map_err(|e| self.csv_error(e))?;
            }
            self.notebooks.push(note);
        }
        Ok(())
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Writes the trailer, flushes and syncs both files, and renames them into place (the
    /// CSV first, so a plan on disk always has its CSV).
    pub fn finish(mut self) -> Result<WrittenPlan, Error> {
        let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        let trailer = Trailer {
            kind: "end".to_string(),
            entries: self.entries,
            digest: digest.clone(),
            notifications: self.summary.notifications(),
            notebooks: std::mem::take(&mut self.notebooks),
        };
        let mut line = serde_json::to_vec(&trailer).expect("a trailer always serialises");
        line.push(b'\n');
        let path = self.out.path().to_path_buf();
        self.out.write_all(&line).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let csv_file = self.csv.into_inner().map_err(|e| Error::Write {
            path: companion_csv_path(&path),
            source: io::Error::other(e.to_string()),
        })?;
        let csv_path = csv_file.path().to_path_buf();
        csv_file.commit().map_err(|source| Error::Write {
            path: csv_path.clone(),
            source,
        })?;
        self.out.commit().map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(WrittenPlan {
            path,
            csv_path,
            entries: self.entries,
            digest,
            summary: self.summary,
            notebooks: trailer.notebooks,
        })
    }

    fn write_line(&mut self, value: &impl Serialize) -> Result<(), Error> {
        let mut line = serde_json::to_vec(value).map_err(|e| Error::Write {
            path: self.out.path().to_path_buf(),
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        self.hasher.update(&line);
        self.out.write_all(&line).map_err(|source| Error::Write {
            path: self.out.path().to_path_buf(),
            source,
        })
    }

    fn csv_error(&self, e: csv::Error) -> Error {
        Error::Write {
            path: self.csv.get_ref().path().to_path_buf(),
            source: io::Error::other(e.to_string()),
        }
    }
}

fn csv_rows(entry: &PlanEntry) -> Vec<[String; 12]> {
    let base = |principal: &str,
                principal_type: &str,
                before: (&str, &str),
                after: (&str, &str),
                notifies: bool| {
        [
            entry.kind.as_str().to_string(),
            spreadsheet_cell(&entry.id),
            spreadsheet_cell(&entry.name),
            match (entry.action, entry.revoke_only) {
                (ActionKind::Change, true) => "revoke".to_string(),
                (action, _) => action.as_str().to_string(),
            },
            spreadsheet_cell(principal),
            spreadsheet_cell(principal_type),
            before.0.to_string(),
            after.0.to_string(),
            before.1.to_string(),
            after.1.to_string(),
            spreadsheet_cell(entry.reason.as_deref().unwrap_or("")),
            if notifies { "yes" } else { "" }.to_string(),
        ]
    };
    let Some(request) = entry
        .request
        .as_ref()
        .filter(|_| entry.action == ActionKind::Change)
    else {
        return vec![base("", "", ("", ""), ("", ""), false)];
    };
    request
        .changes
        .iter()
        .map(|change| {
            // Only the principal matters for matching; the role is a placeholder.
            let as_grant = Grant {
                recipient_type: change.recipient_type.clone(),
                id: change.id.clone(),
                name: change.name.clone(),
                role: Role::Consumer,
                can_share: None,
            };
            let before = entry.current.iter().find(|g| same_principal(g, &as_grant));
            base(
                &change.name,
                &change.recipient_type,
                (
                    before.map_or("NONE", |g| g.role.as_str()),
                    bool_cell(before.and_then(|g| g.can_share)),
                ),
                (
                    change.role.map_or("NONE", |r| r.as_str()),
                    bool_cell(change.can_share),
                ),
                entry.notifies(change),
            )
        })
        .collect()
}

fn bool_cell(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// Reads a plan back, one entry at a time.
///
/// [`open`](PlanReader::open) checks everything about the file before the first entry is
/// handed out: the header (format and version), the trailer, the entry count, the digest
/// and every entry, in one streaming pass, with errors naming the file, the 1-based line
/// and the field. Iterating then parses each entry again (`Result<PlanEntry>`) and
/// re-hashes what it hands out: should the file be replaced between the check and the
/// reading, an item is an error. Memory use does not grow with the plan.
pub struct PlanReader {
    path: PathBuf,
    header: PlanHeader,
    entries: u64,
    digest: String,
    input: BufReader<File>,
    line: u64,
    remaining: u64,
    buf: Vec<u8>,
    /// Re-hashes what is handed out, so a file swapped after `open` checked it is caught.
    hasher: Sha256,
    rechecked: bool,
    /// Counts per kind and action, and the notifications applying will cause, from the
    /// verifying pass.
    summary: Summary,
    /// The trailer's notebooks.
    notebooks: Vec<NotebookNote>,
}

impl PlanReader {
    /// Opens and verifies the plan at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<PlanReader, Error> {
        let path = path.as_ref().to_path_buf();
        let Verified {
            header,
            entries,
            digest,
            summary,
            notebooks,
        } = verify(&path)?;
        let mut input = open_read(&path)?;
        let mut buf = Vec::new();
        read_line(&path, &mut input, &mut buf)?; // the header, already checked
        let mut hasher = Sha256::new();
        hasher.update(&buf);
        Ok(PlanReader {
            path,
            header,
            entries,
            digest,
            input,
            line: 1,
            remaining: entries,
            buf,
            hasher,
            rechecked: false,
            summary,
            notebooks,
        })
    }

    /// Counts per kind and action, and the notifications applying will cause
    /// ([`Summary::notifications`]), as the verifying pass found them.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The notebooks the departing users own, as the trailer reports them (read only;
    /// nothing applies them).
    pub fn notebooks(&self) -> &[NotebookNote] {
        &self.notebooks
    }

    /// The plan's header.
    pub fn header(&self) -> &PlanHeader {
        &self.header
    }

    /// The number of entries, from the verified trailer.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// `sha256:<hex>`, the verified digest: what a journal records to name its plan.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_entry(&mut self) -> Result<PlanEntry, Error> {
        self.line += 1;
        let n = read_line(&self.path, &mut self.input, &mut self.buf)?;
        if n == 0 {
            return Err(Error::invalid(
                &self.path,
                self.line,
                "unexpected end of file (the plan changed while being read)",
            ));
        }
        self.hasher.update(&self.buf);
        let entry: PlanEntry = parse_line(&self.path, self.line, &self.buf)?;
        check_entry(&self.path, self.line, &entry)?;
        Ok(entry)
    }
}

impl Iterator for PlanReader {
    type Item = Result<PlanEntry, Error>;

    /// Every entry, then, only if the file changed since [`PlanReader::open`] checked
    /// it, one last error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            if self.rechecked {
                return None;
            }
            self.rechecked = true;
            let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            return (digest != self.digest).then(|| {
                Err(Error::invalid(
                    &self.path,
                    self.line + 1,
                    "digest mismatch: the plan changed while being read",
                ))
            });
        }
        self.remaining -= 1;
        Some(self.next_entry())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, n.checked_add(usize::from(!self.rechecked)))
    }
}

fn open_read(path: &Path) -> Result<BufReader<File>, Error> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads one line, `\n` included, into `buf`; returns its length (0 at end of file).
fn read_line(path: &Path, input: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<usize, Error> {
    buf.clear();
    input.read_until(b'\n', buf).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// What the integrity pass found.
struct Verified {
    header: PlanHeader,
    entries: u64,
    digest: String,
    summary: Summary,
    notebooks: Vec<NotebookNote>,
}

/// The streaming integrity pass: header, count, digest, trailer.
fn verify(path: &Path) -> Result<Verified, Error> {
    let mut input = open_read(path)?;
    let mut line = Vec::new();
    if read_line(path, &mut input, &mut line)? == 0 {
        return Err(Error::invalid(path, 1, "empty file, not a handover plan"));
    }
    let header = parse_header(path, &line)?;
    let mut hasher = Sha256::new();
    hasher.update(&line);

    // One line of lookahead: the last line is the trailer and is not hashed.
    let mut pending: Option<Vec<u8>> = None;
    let mut line_no: u64 = 1;
    let mut entries: u64 = 0;
    let mut first_bad: Option<Error> = None;
    let mut summary = Summary::new();
    loop {
        let mut next = Vec::new();
        if read_line(path, &mut input, &mut next)? == 0 {
            break;
        }
        line_no += 1;
        if let Some(prev) = pending.replace(next) {
            hasher.update(&prev);
            entries += 1;
            // Every entry is parsed here too, so that a bad entry in an intact plan (its
            // digest fixed up by hand) is refused before anything is sent rather than when
            // the executor reaches it. Reported only once the file is known to be whole
            // and unedited: for an edited plan, that is the news.
            if first_bad.is_none() {
                match parse_line::<PlanEntry>(path, line_no - 1, &prev)
                    .and_then(|entry| check_entry(path, line_no - 1, &entry).map(|()| entry))
                {
                    Ok(entry) => summary.add(&entry),
                    Err(e) => first_bad = Some(e),
                }
            }
        }
    }
    let Some(last) = pending else {
        return Err(Error::invalid(
            path,
            2,
            "missing end trailer: the plan is truncated",
        ));
    };
    let trailer = serde_json::from_slice::<Trailer>(&last)
        .ok()
        .filter(|t| t.kind == "end")
        .ok_or_else(|| {
            Error::invalid(
                path,
                line_no,
                r#"expected the end trailer {"type":"end",…}: the plan is truncated or was edited"#,
            )
        })?;
    if trailer.entries != entries {
        return Err(Error::invalid(
            path,
            line_no,
            format!(
                "trailer counts {} entries but the plan has {entries}: the plan was edited",
                trailer.entries
            ),
        ));
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    if trailer.digest != digest {
        return Err(Error::invalid(
            path,
            line_no,
            "digest mismatch: the plan was edited after it was written",
        ));
    }
    if let Some(e) = first_bad {
        return Err(e);
    }
    Ok(Verified {
        header,
        entries,
        digest,
        summary,
        notebooks: trailer.notebooks,
    })
}

fn parse_header(path: &Path, line: &[u8]) -> Result<PlanHeader, Error> {
    // Format and version first, so that a future plan is reported as such rather than
    // as whatever field changed.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(line).map_err(|_| {
        Error::invalid(path, 1, "not a handover plan (line 1 is not a JSON object)")
    })?;
    if probe.format.as_ref().and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Error::invalid(
            path,
            1,
            format!("not a handover plan (no \"format\":\"{FORMAT}\")"),
        ));
    }
    match probe.version.as_ref().and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(Error::invalid(
                path,
                1,
                format!(
                    "plan format version {v} is not supported (this handover reads version {VERSION})"
                ),
            ));
        }
        None => {
            return Err(Error::Field {
                path: path.to_path_buf(),
                line: 1,
                field: "version".to_string(),
                message: "missing or not a number".to_string(),
            });
        }
    }
    parse_line(path, 1, line)
}

fn parse_line<T: serde::de::DeserializeOwned>(
    path: &Path,
    line: u64,
    bytes: &[u8],
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let message = json_message(err.inner());
        if field == "." {
            Error::invalid(path, line, message)
        } else {
            Error::Field {
                path: path.to_path_buf(),
                line,
                field,
                message,
            }
        }
    })?;
    de.end()
        .map_err(|err| Error::invalid(path, line, json_message(&err)))?;
    Ok(value)
}

/// serde_json's message with its "at line 1 column N" (always line 1 here) turned into
/// "(column N)".
fn json_message(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match message.strip_suffix(&suffix) {
        Some(stripped) => format!("{stripped} (column {})", err.column()),
        None => message,
    }
}

/// What the executor relies on beyond the types: a change carries its request, nothing
/// else does, and a refusal says why.
fn check_entry(path: &Path, line: u64, entry: &PlanEntry) -> Result<(), Error> {
    let problem = match (entry.action, &entry.request, &entry.reason) {
        (ActionKind::Change, None, _) => Some(("request", "missing for action \"change\"")),
        (ActionKind::Change, Some(r), _) if r.changes.is_empty() => {
            Some(("request.changes", "empty for action \"change\""))
        }
        (ActionKind::Noop | ActionKind::Refused, Some(_), _) => {
            Some(("request", "present for an action other than \"change\""))
        }
        (ActionKind::Refused, _, None) => Some(("reason", "missing for action \"refused\"")),
        _ => None,
    };
    match problem {
        Some((field, message)) => Err(Error::Field {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            message: message.to_string(),
        }),
        None => Ok(()),
    }
}
