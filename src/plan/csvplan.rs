//! Hand-written plans: a CSV file of `entity_type,entity_id,username,role[,can_share]`
//! rows, checked in one pass and merged into one change per entity.
//!
//! The format is documented for users in `migrations-plans/README.md`. In short:
//!
//! - a header row is required; column order is free; names are case-insensitive (a space
//!   or `-` may stand for `_`); `can_share` is optional; any other column is an error;
//! - `entity_type` is any name [`EntityKind::parse_writable`] takes (`project`, `data-sources`,
//!   `externalDataStores`, …);
//! - `role` is `OWNER`, `EDITOR`, `CONSUMER` or `NONE` (revoke), any case, or an alias
//!   DataRobot uses: `USER`, `READ_WRITE` (= EDITOR), `READ_ONLY`, `OBSERVER`
//!   (= CONSUMER), `NO_ROLE` (= NONE);
//! - `can_share` is `true`/`false`/`yes`/`no`/`1`/`0` or empty (leave as is);
//! - a UTF-8 BOM, CRLF line ends, quoting, whitespace around fields, blank lines and lines
//!   starting with `#` are all fine.
//!
//! Every problem in the file is reported at once, each with its line, and then the whole
//! file is refused ([`Error::exit_code`] is [`exit::INVALID_INPUT`]): a plan is applied
//! entirely or not at all. Turning the rows into targets against what the server has is
//! [`apply`]; checking that the users exist is the impure planner's job.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::exit;
use crate::model::{EntityKind, Grant, Role, is_revoke_name};
use crate::plan::{UserIdent, same_principal};

/// How many problems the error message lists before summarising the rest.
pub const MAX_SHOWN: usize = 100;

/// One row of a CSV plan, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRow {
    /// As written, trimmed.
    pub username: String,
    /// The level to set; `None` revokes.
    pub role: Option<Role>,
    /// `None` when the cell is empty or the column absent.
    pub can_share: Option<bool>,
    /// The 1-based line the row starts on.
    pub line: u64,
}

/// Every row for one entity, in file order. No two rows name the same user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvChange {
    pub kind: EntityKind,
    pub id: String,
    pub rows: Vec<CsvRow>,
}

impl CsvChange {
    /// The users this change grants a role to: the ones the planner must find, active.
    /// Revoked users need not exist any more.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.rows
            .iter()
            .filter(|r| r.role.is_some())
            .map(|r| r.username.as_str())
    }
}

/// One thing wrong with a CSV plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// What is wrong, starting with `field <name>: ` when one field is at fault.
    pub message: String,
}

/// A CSV input (a plan here; a map or an id list in `mapfile`) that cannot be used.
/// Nothing has been sent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has problems, all listed one per line as `file:line: message`.
    #[error("{}", Listing { file, problems })]
    Invalid {
        /// The file as named to [`parse`].
        file: String,
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

impl Error {
    /// Always [`exit::INVALID_INPUT`]: the input was refused before anything was sent.
    pub fn exit_code(&self) -> i32 {
        exit::INVALID_INPUT
    }

    /// The problems found (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            Error::Read { .. } => &[],
        }
    }
}

/// Problems listed one per line as `file:line: message`, cut short after [`MAX_SHOWN`];
/// every hand-written input file (CSV plans, map files, id lists) reports this way.
pub(crate) struct Listing<'a> {
    pub(crate) file: &'a str,
    pub(crate) problems: &'a [Problem],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().take(MAX_SHOWN).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{line}: {}", self.file, p.message)?,
                None => write!(f, "{}: {}", self.file, p.message)?,
            }
        }
        if self.problems.len() > MAX_SHOWN {
            write!(
                f,
                "\n{}: {} more problems not shown",
                self.file,
                self.problems.len() - MAX_SHOWN
            )?;
        }
        Ok(())
    }
}

/// The columns a CSV plan may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnKind {
    EntityType,
    EntityId,
    Username,
    Role,
    CanShare,
}

impl ColumnKind {
    const ALL: [ColumnKind; 5] = [
        ColumnKind::EntityType,
        ColumnKind::EntityId,
        ColumnKind::Username,
        ColumnKind::Role,
        ColumnKind::CanShare,
    ];

    fn name(self) -> &'static str {
        match self {
            ColumnKind::EntityType => "entity_type",
            ColumnKind::EntityId => "entity_id",
            ColumnKind::Username => "username",
            ColumnKind::Role => "role",
            ColumnKind::CanShare => "can_share",
        }
    }

    fn parse(header: &str) -> Option<ColumnKind> {
        let norm = header.trim().to_lowercase().replace([' ', '-'], "_");
        ColumnKind::ALL.into_iter().find(|c| c.name() == norm)
    }
}

const EXPECTED_HEADER: &str = "entity_type,entity_id,username,role[,can_share]";
const EXPECTED_ROLES: &str = "expected OWNER, EDITOR, CONSUMER or NONE";

/// Reads and checks the CSV plan at `path`; problems name the file as `path` displays.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<CsvChange>, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&path.display().to_string(), &bytes)
}

/// Checks a CSV plan held in memory; `file` names it in messages. Returns one
/// [`CsvChange`] per entity, in the order entities first appear.
pub fn parse(file: &str, input: &[u8]) -> Result<Vec<CsvChange>, Error> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut changes: Vec<CsvChange> = Vec::new();
    let mut by_entity: HashMap<(EntityKind, String), usize> = HashMap::new();
    let mut seen_user: HashMap<(EntityKind, String, String), u64> = HashMap::new();

    for_each_data_row(
        input,
        &mut problems,
        EXPECTED_HEADER,
        parse_header,
        |line, cols, record, report| {
            let Some(row) = parse_row(cols, record, report) else {
                return;
            };
            let key = (row.kind, row.id.clone(), row.username.to_lowercase());
            if let Some(first) = seen_user.get(&key) {
                report(format!(
                    "duplicate row for {} {} and user {:?} (first at line {first})",
                    row.kind, row.id, row.username
                ));
                return;
            }
            seen_user.insert(key, line);
            let index = *by_entity
                .entry((row.kind, row.id.clone()))
                .or_insert_with(|| {
                    changes.push(CsvChange {
                        kind: row.kind,
                        id: row.id.clone(),
                        rows: Vec::new(),
                    });
                    changes.len() - 1
                });
            changes[index].rows.push(CsvRow {
                username: row.username,
                role: row.role,
                can_share: row.can_share,
                line,
            });
        },
    );
    if problems.is_empty() {
        Ok(changes)
    } else {
        Err(Error::Invalid {
            file: file.to_string(),
            problems,
        })
    }
}

/// The reading every hand-written CSV input shares: the first row is the header, parsed by
/// `header` (its problems end the reading: no row can be understood without it), and every
/// later row with as many fields as the header goes to `on_row` with its line, the
/// columns, and a way to report a problem on that line. Adds the problems of a malformed
/// file, an empty one (`expected` names the header wanted) and one with no rows.
pub(crate) fn for_each_data_row<C>(
    input: &[u8],
    problems: &mut Vec<Problem>,
    expected: &str,
    header: impl Fn(&csv::ByteRecord) -> Result<Vec<C>, Vec<String>>,
    mut on_row: impl FnMut(u64, &[C], &csv::ByteRecord, &mut dyn FnMut(String)),
) {
    let mut columns: Option<Vec<C>> = None;
    let mut header_refused = false;
    let mut rows_read: u64 = 0;
    let read = for_each_row(input, |line, record| {
        let Some(cols) = &columns else {
            match header(record) {
                Ok(cols) => columns = Some(cols),
                Err(messages) => {
                    problems.extend(messages.into_iter().map(|message| Problem {
                        line: Some(line),
                        message,
                    }));
                    header_refused = true;
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        };
        rows_read += 1;
        let mut report = |message: String| {
            problems.push(Problem {
                line: Some(line),
                message,
            })
        };
        if record.len() != cols.len() {
            report(format!(
                "expected {} fields, found {}",
                cols.len(),
                record.len()
            ));
        } else {
            on_row(line, cols, record, &mut report);
        }
        ControlFlow::Continue(())
    });
    if let Err(malformed) = read {
        problems.push(malformed);
    }
    if header_refused {
        return;
    }
    if columns.is_none() && problems.is_empty() {
        problems.push(Problem {
            line: None,
            message: format!("empty file (expected a header row: {expected})"),
        });
    } else if rows_read == 0 && problems.is_empty() {
        problems.push(Problem {
            line: None,
            message: "no rows after the header".to_string(),
        });
    }
}

/// Reads a hand-written CSV input the way every such file is read (a UTF-8 BOM, CRLF or
/// lone CR line ends, quoting, `#` comment lines; rows may differ in length) and hands each
/// row that is not blank to `on_row`, with the 1-based line it starts on. Stops when
/// `on_row` breaks, or at the first malformed row, which is returned as a problem: the
/// rest of the file cannot be trusted to split into the same rows.
pub(crate) fn for_each_row(
    input: &[u8],
    mut on_row: impl FnMut(u64, &csv::ByteRecord) -> ControlFlow<()>,
) -> Result<(), Problem> {
    // Excel's "Unicode Text" and some editors save UTF-16; read as bytes it would show up
    // as one unknown column full of NULs.
    if input.starts_with(b"\xFF\xFE") || input.starts_with(b"\xFE\xFF") {
        return Err(Problem {
            line: Some(1),
            message: "the file is UTF-16; save it as UTF-8 (in Excel: CSV UTF-8)".to_string(),
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(input);
    let mut lines = LineCounter::new(input);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(err) => {
                return Err(Problem {
                    line: err.position().map(|p| p.line()),
                    message: format!("malformed CSV: {err}"),
                });
            }
        }
        let line = lines.line_of_record(record.position().map_or(0, |p| p.byte()));
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        if on_row(line, &record).is_break() {
            return Ok(());
        }
    }
}

/// 1-based line numbers of records. csv's own count starts a record at the blank or
/// comment lines before it and miscounts CRLF, so count from the byte offset instead.
struct LineCounter<'a> {
    input: &'a [u8],
    /// Bytes before this offset are counted.
    pos: usize,
    /// The line `pos` is on.
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(input: &'a [u8]) -> Self {
        LineCounter {
            input,
            pos: 0,
            line: 1,
        }
    }

    /// The line of the record csv reports at `byte`: where that offset lands after the
    /// line ends and `#` comment lines csv skipped before the record.
    fn line_of_record(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.input.len());
        loop {
            match self.input.get(start) {
                Some(b'\r' | b'\n') => start += 1,
                Some(b'#') => {
                    start = self.input[start..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(self.input.len(), |i| start + i + 1);
                }
                _ => break,
            }
        }
        // Every line end counts once: `\n`, `\r\n`, or a lone `\r`.
        let span = &self.input[self.pos.min(start)..start];
        for (i, &b) in span.iter().enumerate() {
            let lone_cr = b == b'\r' && span.get(i + 1) != Some(&b'\n');
            if b == b'\n' || lone_cr {
                self.line += 1;
            }
        }
        self.pos = self.pos.max(start);
        self.line
    }
}

fn parse_header(record: &csv::ByteRecord) -> Result<Vec<ColumnKind>, Vec<String>> {
    let mut columns = Vec::with_capacity(record.len());
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let name = name.trim();
        if name.is_empty() {
            problems.push(format!("column {} has no name", i + 1));
            continue;
        }
        match ColumnKind::parse(name) {
            Some(c) if columns.contains(&c) => {
                problems.push(format!("duplicate column {:?}", c.name()));
            }
            Some(c) => columns.push(c),
            None => unknown.push(format!("{name:?}")),
        }
    }
    match unknown.len() {
        0 => {}
        1 => problems.push(format!(
            "unknown column {} (expected {EXPECTED_HEADER})",
            unknown[0]
        )),
        _ => problems.push(format!(
            "unknown columns {} (expected {EXPECTED_HEADER})",
            unknown.join(", ")
        )),
    }
    for required in &ColumnKind::ALL[..4] {
        if !columns.contains(required) {
            problems.push(format!("missing column {:?}", required.name()));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

/// A row whose every field checked out.
struct Row {
    kind: EntityKind,
    id: String,
    username: String,
    role: Option<Role>,
    can_share: Option<bool>,
}

/// Checks every field of a row, reporting each problem; `None` when there was any.
fn parse_row(
    cols: &[ColumnKind],
    record: &csv::ByteRecord,
    report: &mut dyn FnMut(String),
) -> Option<Row> {
    let mut ok = true;
    let mut fail = |column: ColumnKind, message: String| {
        report(format!("field {}: {message}", column.name()));
        ok = false;
    };
    let mut fields: [Option<&str>; 5] = [None; 5];
    for (col, raw) in cols.iter().zip(record.iter()) {
        match std::str::from_utf8(raw) {
            Ok(text) => fields[*col as usize] = Some(text.trim()),
            Err(_) => fail(*col, "not valid UTF-8".to_string()),
        }
    }
    let field = |c: ColumnKind| fields[c as usize];

    let kind = field(ColumnKind::EntityType).and_then(|s| {
        if s.is_empty() {
            fail(ColumnKind::EntityType, "empty".to_string());
            return None;
        }
        EntityKind::parse_writable(s)
            .map_err(|e| fail(ColumnKind::EntityType, e.to_string()))
            .ok()
    });
    let id_problem = |s: &str| id_problem(s).or_else(|| kind.and_then(|k| k.check_id(s).err()));
    let id = field(ColumnKind::EntityId).and_then(|s| match id_problem(s) {
        Some(problem) => {
            fail(ColumnKind::EntityId, problem);
            None
        }
        None => Some(s.to_string()),
    });
    let username = field(ColumnKind::Username).and_then(|s| match username_problem(s) {
        Some(problem) => {
            fail(ColumnKind::Username, problem);
            None
        }
        None => Some(s.to_string()),
    });
    let role = field(ColumnKind::Role).and_then(|s| {
        if s.is_empty() {
            fail(ColumnKind::Role, format!("empty ({EXPECTED_ROLES})"));
            None
        } else if is_revoke_name(s) {
            Some(None)
        } else if let Some(role) = Role::from_wire(s) {
            Some(Some(role))
        } else {
            fail(
                ColumnKind::Role,
                format!("unknown role {s:?} ({EXPECTED_ROLES})"),
            );
            None
        }
    });
    let can_share = match field(ColumnKind::CanShare) {
        None => Some(None),
        Some(s) => match parse_bool(s) {
            Ok(b) => Some(b),
            Err(()) => {
                fail(
                    ColumnKind::CanShare,
                    format!(
                        "{s:?} is not a boolean (expected true, false, yes, no, 1, 0 or empty)"
                    ),
                );
                None
            }
        },
    };
    if let (Some(Some(_)), Some(None)) = (can_share, role) {
        fail(
            ColumnKind::CanShare,
            "set on a revoke (role NONE); leave it empty".to_string(),
        );
    }
    if let (Some(Some(_)), Some(kind)) = (can_share, kind)
        && !kind.supports_can_share()
    {
        fail(
            ColumnKind::CanShare,
            format!(
                "{} do not carry can_share; leave it empty",
                kind.plural_label()
            ),
        );
    }
    if !ok {
        return None;
    }
    Some(Row {
        kind: kind?,
        id: id?,
        username: username?,
        role: role?,
        can_share: can_share?,
    })
}

/// What is wrong with an entity id cell (trimmed), if anything: ids are letters, digits,
/// `-` and `_`, which every DataRobot id is and a stray name or path is not.
pub(crate) fn id_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        Some("empty".to_string())
    } else if let Some(problem) = too_long(s, "an id", MAX_ID_CHARS) {
        Some(problem)
    } else if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some(format!(
            "{s:?} is not an id (letters, digits, '-' and '_' only)"
        ))
    } else {
        None
    }
}

/// The longest username accepted: an e-mail address has at most 254 characters (RFC
/// 5321). A longer cell is a paste gone wrong, and one of 64 KiB would not even fit in the
/// URL of the user lookup.
const MAX_USERNAME_CHARS: usize = 254;

/// The longest entity id accepted. DataRobot's are 24 hex digits; this leaves room for
/// other id shapes while keeping a pasted blob out of request paths.
const MAX_ID_CHARS: usize = 128;

/// A problem when `s` has more than `max` characters, quoting only its start so that the
/// message stays one line.
fn too_long(s: &str, what: &str, max: usize) -> Option<String> {
    let n = s.chars().count();
    (n > max).then(|| {
        let head: String = s.chars().take(24).collect();
        format!("{head:?}… ({n} characters) is too long for {what} (at most {max})")
    })
}

/// What is wrong with a username cell (trimmed), if anything.
pub(crate) fn username_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        Some("empty".to_string())
    } else if let Some(problem) = too_long(s, "a username", MAX_USERNAME_CHARS) {
        Some(problem)
    } else if s.chars().any(char::is_whitespace) {
        Some(format!(
            "{s:?} is not a plausible username (contains whitespace)"
        ))
    } else if s.chars().any(char::is_control) {
        Some(format!(
            "{s:?} is not a plausible username (contains a control character)"
        ))
    } else {
        None
    }
}

fn parse_bool(s: &str) -> Result<Option<bool>, ()> {
    match s.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "1" => Ok(Some(true)),
        "false" | "no" | "0" => Ok(Some(false)),
        _ => Err(()),
    }
}

/// The access list a CSV change asks for, given the `current` one of its entity. `rows`
/// are the change's rows, each with the user the planner looked up (`None` when it did
/// not, or found nobody):
///
/// - each listed user gets the row's role, in place when present (matched by id when
///   both sides have one, else by username, case-insensitively), appended when absent
///   (with the looked-up id and username, when there is one);
/// - revoked users are removed (absent ones are ignored);
/// - everyone else is untouched, in the same order.
///
/// `can_share`: the row's value where the kind carries it; else `true` for a new OWNER
/// where the kind carries it; else what the user had (or nothing).
pub fn apply(
    kind: EntityKind,
    current: &[Grant],
    rows: &[(&CsvRow, Option<UserIdent>)],
) -> Vec<Grant> {
    let mut target = current.to_vec();
    for (row, user) in rows {
        let probe = Grant {
            recipient_type: "user".to_string(),
            id: user.as_ref().map(|u| u.id.clone()),
            name: user
                .as_ref()
                .map_or_else(|| row.username.clone(), |u| u.username.clone()),
            role: Role::Consumer,
            can_share: None,
        };
        let found = target.iter().position(|g| same_principal(g, &probe));
        match (row.role, found) {
            (None, Some(i)) => {
                target.remove(i);
            }
            (None, None) => {}
            (Some(role), Some(i)) => {
                let grant = &mut target[i];
                grant.can_share = can_share_for(kind, role, row.can_share, grant.can_share);
                grant.role = role;
                if grant.id.is_none() {
                    grant.id = probe.id;
                }
            }
            (Some(role), None) => target.push(Grant {
                can_share: can_share_for(kind, role, row.can_share, None),
                role,
                ..probe
            }),
        }
    }
    target
}

impl CsvChange {
    /// [`apply`] without user lookups: users are matched and added by username only.
    pub fn target(&self, current: &[Grant]) -> Vec<Grant> {
        let rows: Vec<_> = self.rows.iter().map(|r| (r, None)).collect();
        apply(self.kind, current, &rows)
    }
}

fn can_share_for(
    kind: EntityKind,
    role: Role,
    given: Option<bool>,
    existing: Option<bool>,
) -> Option<bool> {
    if !kind.supports_can_share() {
        return existing;
    }
    given.or(if role == Role::Owner {
        Some(true)
    } else {
        existing
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<CsvChange> {
        parse("t.csv", text.as_bytes()).unwrap()
    }

    fn err(text: &str) -> String {
        parse("t.csv", text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn rows_for_one_entity_merge_in_file_order() {
        let changes = ok("entity_type,entity_id,username,role\n\
             project,p1,bob,OWNER\n\
             dataset,d1,carol,editor\n\
             projects,p1,alice,none\n");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].kind, EntityKind::Project);
        assert_eq!(
            changes[0].rows,
            vec![
                CsvRow {
                    username: "bob".into(),
                    role: Some(Role::Owner),
                    can_share: None,
                    line: 2
                },
                CsvRow {
                    username: "alice".into(),
                    role: None,
                    can_share: None,
                    line: 4
                },
            ]
        );
        assert_eq!(changes[0].recipients().collect::<Vec<_>>(), ["bob"]);
        assert_eq!(changes[1].rows[0].role, Some(Role::Editor));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(
            err("entity_type,entity_id,username,role\n\
                 project,p1,bob,OWNR\n\
                 widget,,john doe,EDITOR\n"),
            "t.csv:2: field role: unknown role \"OWNR\" (expected OWNER, EDITOR, CONSUMER or NONE)\n\
             t.csv:3: field entity_type: unknown entity type \"widget\" (expected one of: project, dataset, data_source, data_store, calendar, deployment, use_case, registered_model, custom_model, custom_task, execution_environment, file, user_blueprint, application, custom_application, custom_application_source, custom_job, secure_config, notification_channel_template, notification_policy_template, compliance_doc_template, value_tracker, workload, artifact, artifact_repository)\n\
             t.csv:3: field entity_id: empty\n\
             t.csv:3: field username: \"john doe\" is not a plausible username (contains whitespace)"
        );
    }

    #[test]
    fn long_listings_are_cut_short() {
        let mut text = String::from("entity_type,entity_id,username,role\n");
        for _ in 0..(MAX_SHOWN + 5) {
            text.push_str("project,p1,bob,BOSS\n");
        }
        let e = parse("t.csv", text.as_bytes()).unwrap_err();
        assert_eq!(e.problems().len(), MAX_SHOWN + 5);
        let msg = e.to_string();
        assert_eq!(msg.lines().count(), MAX_SHOWN + 1);
        assert!(msg.ends_with("\nt.csv: 5 more problems not shown"), "{msg}");
        assert_eq!(e.exit_code(), exit::INVALID_INPUT);
    }

    fn g(name: &str, role: Role, can_share: Option<bool>) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: Some(format!("id-{name}")),
            name: name.into(),
            role,
            can_share,
        }
    }

    fn change(kind: EntityKind, rows: &[(&str, Option<Role>, Option<bool>)]) -> CsvChange {
        CsvChange {
            kind,
            id: "x".into(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, (u, r, c))| CsvRow {
                    username: u.to_string(),
                    role: *r,
                    can_share: *c,
                    line: i as u64 + 2,
                })
                .collect(),
        }
    }

    #[test]
    fn apply_sets_listed_users_and_leaves_the_rest() {
        let current = vec![
            g("alice", Role::Owner, Some(true)),
            g("carol", Role::Consumer, Some(false)),
            g("dave", Role::Editor, None),
        ];
        let c = change(
            EntityKind::Dataset,
            &[
                ("BOB", Some(Role::Owner), None),
                ("Alice", None, None),
                ("carol", Some(Role::Editor), None),
                ("ghost", None, None),
            ],
        );
        let target = c.target(&current);
        let bob = Grant {
            recipient_type: "user".into(),
            id: None,
            name: "BOB".into(),
            role: Role::Owner,
            can_share: Some(true),
        };
        assert_eq!(
            target,
            vec![
                g("carol", Role::Editor, Some(false)),
                g("dave", Role::Editor, None),
                bob,
            ]
        );
    }

    #[test]
    fn apply_uses_looked_up_users_for_ids_and_names() {
        let current = vec![
            g("alice", Role::Owner, Some(true)),
            // Same username as the looked-up bob, different account: not bob.
            Grant {
                id: Some("someone-else".into()),
                ..g("bob", Role::Consumer, None)
            },
        ];
        let c = change(
            EntityKind::Dataset,
            &[("Bob", Some(Role::Owner), None), ("ALICE", None, None)],
        );
        let bob = UserIdent {
            id: "id-b".into(),
            username: "bob".into(),
        };
        let alice = UserIdent {
            id: "id-alice".into(),
            username: "alice".into(),
        };
        let rows = [(&c.rows[0], Some(bob)), (&c.rows[1], Some(alice))];
        let target = apply(EntityKind::Dataset, &current, &rows);
        assert_eq!(
            target,
            vec![
                current[1].clone(),
                Grant {
                    id: Some("id-b".into()),
                    ..g("bob", Role::Owner, Some(true))
                },
            ]
        );
    }

    #[test]
    fn apply_can_share_rules() {
        let current = vec![g("alice", Role::Editor, Some(false))];
        // Explicit value wins.
        let t = change(
            EntityKind::RegisteredModel,
            &[("alice", Some(Role::Owner), Some(false))],
        )
        .target(&current);
        assert_eq!(t[0].can_share, Some(false));
        // OWNER defaults to true where carried.
        let t = change(
            EntityKind::RegisteredModel,
            &[("alice", Some(Role::Owner), None)],
        )
        .target(&current);
        assert_eq!(t[0].can_share, Some(true));
        // Other roles keep what they had.
        let t = change(
            EntityKind::RegisteredModel,
            &[("alice", Some(Role::Consumer), None)],
        )
        .target(&current);
        assert_eq!(t[0].can_share, Some(false));
        // Kinds without can_share keep what the server said and add nothing.
        let t = change(
            EntityKind::Project,
            &[
                ("alice", Some(Role::Owner), None),
                ("bob", Some(Role::Owner), None),
            ],
        )
        .target(&current);
        assert_eq!((t[0].can_share, t[1].can_share), (Some(false), None));
    }
}
