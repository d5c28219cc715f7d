//! The small files that steer an offboarding: the **map** of departing users to their
//! successors (`--map FILE`) and **id lists** that narrow a plan (`--only-ids FILE`,
//! `--exclude FILE`).
//!
//! Both are read the way hand-written CSV plans are ([`csvplan`](crate::plan::csvplan)): a UTF-8
//! BOM, CRLF line ends, quoting, whitespace around fields, blank lines and `#` comment
//! lines are fine, and every problem in the file is reported at once, each with its line,
//! before the file is refused ([`Error::exit_code`] is [`exit::INVALID_INPUT`]) and before
//! anything is sent. The formats are documented for users in the README.
//!
//! - A map has the header `from,to` (any order, any case) and one row per departing user.
//!   A user may leave only once (no `from` twice), may not hand over to themselves, and
//!   no successor may be departing too (a chain `a→b`, `b→c` would make `b` an owner for
//!   a moment only to take it away again: map `a` to `c`).
//! - An id list has one entity per line: an `ID` (any kind) or `TYPE,ID` (that kind only),
//!   with an optional header row (`id`, or `type,id`/`entity_type,entity_id`).
//!
//! Looking the users up and applying the lists is the planner's job.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::str::FromStr;

use crate::model::EntityKind;
use crate::plan::csvplan::{
    Problem, for_each_data_row, for_each_row, id_problem, username_problem,
};

/// A map file or id list that cannot be used (the same error as a CSV plan's: they share
/// the row reader). Nothing has been sent.
pub use crate::plan::csvplan::Error;

/// Reads `path` whole, as the parsers take it.
pub fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// One row of a map: `from` leaves, `to` takes over what `from` owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRow {
    /// The departing user, as written (trimmed).
    pub from: String,
    /// The successor, as written (trimmed).
    pub to: String,
    /// The 1-based line the row starts on.
    pub line: u64,
}

const MAP_HEADER: &str = "from,to";

/// The two columns of a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MapColumnKind {
    From,
    To,
}

impl MapColumnKind {
    fn name(self) -> &'static str {
        match self {
            MapColumnKind::From => "from",
            MapColumnKind::To => "to",
        }
    }
}

/// Checks a map held in memory; `file` names it in messages. Returns the rows in file
/// order, each `from` distinct (case-insensitively), none mapped to themselves, no `to`
/// also a `from`.
pub fn parse_map(file: &str, input: &[u8]) -> Result<Vec<MapRow>, Error> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut rows: Vec<MapRow> = Vec::new();
    // Lowercased `from` → the line it was first mapped on.
    let mut departing: HashMap<String, u64> = HashMap::new();

    for_each_data_row(
        input,
        &mut problems,
        MAP_HEADER,
        map_header,
        |line, cols, record, report| {
            let mut from = None;
            let mut to = None;
            for (col, raw) in cols.iter().zip(record.iter()) {
                let value = match std::str::from_utf8(raw) {
                    Ok(text) => text.trim(),
                    Err(_) => {
                        report(format!("field {}: not valid UTF-8", col.name()));
                        continue;
                    }
                };
                if let Some(problem) = username_problem(value) {
                    report(format!("field {}: {problem}", col.name()));
                    continue;
                }
                match col {
                    MapColumnKind::From => from = Some(value.to_string()),
                    MapColumnKind::To => to = Some(value.to_string()),
                }
            }
            let (Some(from), Some(to)) = (from, to) else {
                return;
            };
            if from.eq_ignore_ascii_case(&to) {
                report(format!(
                    "field to: same user as from ({to:?}); a user cannot hand over to themselves"
                ));
                return;
            }
            if let Some(first) = departing.get(&from.to_lowercase()) {
                report(format!(
                    "user {from:?} is mapped twice (first at line {first})"
                ));
                return;
            }
            departing.insert(from.to_lowercase(), line);
            rows.push(MapRow { from, to, line });
        },
    );
    // Chains need the whole file: the `from` may come after the `to`.
    for row in &rows {
        if let Some(first) = departing.get(&row.to.to_lowercase()) {
            problems.push(Problem {
                line: Some(row.line),
                message: format!(
                    "field to: {:?} is departing too (from at line {first}); map every \
                     departing user straight to their final successor",
                    row.to
                ),
            });
        }
    }
    // File order, as for CSV plans; a stable sort keeps a line's problems in field order.
    problems.sort_by_key(|p| p.line);

    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(Error::Invalid {
            file: file.to_string(),
            problems,
        })
    }
}

fn map_header(record: &csv::ByteRecord) -> Result<Vec<MapColumnKind>, Vec<String>> {
    let mut columns = Vec::with_capacity(record.len());
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let name = name.trim();
        let column = match name.to_lowercase().as_str() {
            "" => {
                problems.push(format!("column {} has no name", i + 1));
                continue;
            }
            "from" => MapColumnKind::From,
            "to" => MapColumnKind::To,
            _ => {
                unknown.push(format!("{name:?}"));
                continue;
            }
        };
        if columns.contains(&column) {
            problems.push(format!("duplicate column {:?}", column.name()));
        } else {
            columns.push(column);
        }
    }
    match unknown.len() {
        0 => {}
        1 => problems.push(format!(
            "unknown column {} (expected {MAP_HEADER})",
            unknown[0]
        )),
        _ => problems.push(format!(
            "unknown columns {} (expected {MAP_HEADER})",
            unknown.join(", ")
        )),
    }
    for required in [MapColumnKind::From, MapColumnKind::To] {
        if !columns.contains(&required) {
            problems.push(format!("missing column {:?}", required.name()));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

/// One entry of an id list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdEntry {
    /// The kind it is limited to; `None` for a bare id, which matches any kind.
    pub kind: Option<EntityKind>,
    /// The entity id, as written (trimmed).
    pub id: String,
    /// The 1-based line it is on.
    pub line: u64,
}

/// What an id list is for: it decides whether an empty list is a mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdListKind {
    /// `--only-ids`: the plan holds these entities only. An empty list would plan nothing,
    /// which is never what was meant.
    Only,
    /// `--exclude`: the plan leaves these entities out. Empty is fine.
    Exclude,
}

/// A checked id list. Ids compare case-insensitively (DataRobot ids are hex).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdList {
    entries: Vec<IdEntry>,
    /// `(kind, lowercased id)`; `None` kind for bare ids.
    index: HashSet<(Option<EntityKind>, String)>,
}

impl IdList {
    /// A list of `entries` (for tests and callers that build one in code).
    pub fn new(entries: Vec<IdEntry>) -> IdList {
        let index = entries
            .iter()
            .map(|e| (e.kind, e.id.to_lowercase()))
            .collect();
        IdList { entries, index }
    }

    /// Whether the list names the entity `id` of `kind`: a bare `id` line, or a
    /// `kind,id` line.
    pub fn contains(&self, kind: EntityKind, id: &str) -> bool {
        let id = id.to_lowercase();
        self.index.contains(&(None, id.clone())) || self.index.contains(&(Some(kind), id))
    }

    /// Whether `entry` names the entity `id` of `kind`.
    pub fn entry_matches(entry: &IdEntry, kind: EntityKind, id: &str) -> bool {
        entry.kind.is_none_or(|k| k == kind) && entry.id.eq_ignore_ascii_case(id)
    }

    /// The entries, in file order (duplicates kept).
    pub fn entries(&self) -> &[IdEntry] {
        &self.entries
    }

    /// How many lines named an entity.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no line named an entity.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

const ID_LIST_FORMAT: &str = "expected ID or TYPE,ID";

/// Whether a first row is a header (`id`, `entity_id`, or a type column and an id column)
/// rather than an entry: no entity kind is called `type`, and no DataRobot id is `id`.
fn is_id_header(fields: &[&str]) -> bool {
    let is_id = |s: &str| matches!(s.to_lowercase().as_str(), "id" | "entity_id");
    let is_type = |s: &str| matches!(s.to_lowercase().as_str(), "type" | "entity_type");
    match fields {
        [id] => is_id(id),
        [kind, id] => is_type(kind) && is_id(id),
        _ => false,
    }
}

/// Checks an id list held in memory; `file` names it in messages.
pub fn parse_ids(file: &str, input: &[u8], purpose: IdListKind) -> Result<IdList, Error> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut entries: Vec<IdEntry> = Vec::new();
    let mut first_row = true;

    let read = for_each_row(input, |line, record| {
        let mut report = |message: String| {
            problems.push(Problem {
                line: Some(line),
                message,
            });
        };
        let mut fields = Vec::with_capacity(record.len());
        for raw in record {
            match std::str::from_utf8(raw) {
                Ok(text) => fields.push(text.trim()),
                Err(_) => {
                    report("not valid UTF-8".to_string());
                    return ControlFlow::Continue(());
                }
            }
        }
        if std::mem::take(&mut first_row) && is_id_header(&fields) {
            return ControlFlow::Continue(());
        }
        let (kind, id) = match fields.as_slice() {
            [id] => (None, *id),
            [kind, id] => {
                if kind.is_empty() {
                    report(format!("field type: empty ({ID_LIST_FORMAT})"));
                    return ControlFlow::Continue(());
                }
                match EntityKind::from_str(kind) {
                    Ok(k) => (Some(k), *id),
                    Err(e) => {
                        report(format!("field type: {e}"));
                        return ControlFlow::Continue(());
                    }
                }
            }
            more => {
                report(format!(
                    "{} fields ({ID_LIST_FORMAT}, one per line)",
                    more.len()
                ));
                return ControlFlow::Continue(());
            }
        };
        if let Some(problem) = id_problem(id) {
            report(format!("field id: {problem}"));
            return ControlFlow::Continue(());
        }
        entries.push(IdEntry {
            kind,
            id: id.to_string(),
            line,
        });
        ControlFlow::Continue(())
    });
    if let Err(malformed) = read {
        problems.push(malformed);
    }
    if problems.is_empty() && entries.is_empty() && purpose == IdListKind::Only {
        problems.push(Problem {
            line: None,
            message: "no ids (the plan would be empty)".to_string(),
        });
    }
    if problems.is_empty() {
        Ok(IdList::new(entries))
    } else {
        Err(Error::Invalid {
            file: file.to_string(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_err(text: &str) -> String {
        parse_map("m.csv", text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn a_map_keeps_its_rows_in_file_order() {
        let rows = parse_map(
            "m.csv",
            b"\xEF\xBB\xBFTo, From\r\n# leavers of May\r\n\r\nbob@x.com, alice@x.com\r\n\"dave@x.com\",carol@x.com\r\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                MapRow {
                    from: "alice@x.com".into(),
                    to: "bob@x.com".into(),
                    line: 4
                },
                MapRow {
                    from: "carol@x.com".into(),
                    to: "dave@x.com".into(),
                    line: 5
                },
            ]
        );
    }

    #[test]
    fn chains_are_reported_wherever_the_from_is() {
        // The `to` on line 2 is departing on line 3; a self-map is not also a chain.
        assert_eq!(
            map_err("from,to\na,b\nb,c\nd,d\n"),
            "m.csv:2: field to: \"b\" is departing too (from at line 3); map every departing \
             user straight to their final successor\n\
             m.csv:4: field to: same user as from (\"d\"); a user cannot hand over to themselves"
        );
    }

    #[test]
    fn a_second_row_for_a_departing_user_is_refused_even_with_the_same_successor() {
        assert_eq!(
            map_err("from,to\nA@x.com,b@x.com\na@X.com,b@x.com\n"),
            "m.csv:3: user \"a@X.com\" is mapped twice (first at line 2)"
        );
    }

    fn ids(text: &str) -> Result<IdList, Error> {
        parse_ids("ids.txt", text.as_bytes(), IdListKind::Only)
    }

    #[test]
    fn id_lists_take_bare_ids_and_typed_ids() {
        let list = ids("type,id\n# a comment\nABC123\n\nproject, p-1 \n").unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(EntityKind::Dataset, "abc123"));
        assert!(list.contains(EntityKind::Project, "P-1"));
        assert!(!list.contains(EntityKind::Dataset, "p-1"));
        assert!(!list.contains(EntityKind::Project, "abc"));
        assert_eq!(list.entries()[1].line, 5);
    }

    #[test]
    fn id_list_problems_are_all_reported() {
        let e = ids("id\nwidget,x1\n,x2\na,b,c\nhas space\n").unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::INVALID_INPUT);
        let msg = e.to_string();
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(lines.len(), 4, "{msg}");
        assert!(lines[0].starts_with("ids.txt:2: field type: unknown entity type \"widget\""));
        assert_eq!(
            lines[1],
            "ids.txt:3: field type: empty (expected ID or TYPE,ID)"
        );
        assert_eq!(
            lines[2],
            "ids.txt:4: 3 fields (expected ID or TYPE,ID, one per line)"
        );
        assert_eq!(
            lines[3],
            "ids.txt:5: field id: \"has space\" is not an id (letters, digits, '-' and '_' only)"
        );
    }

    #[test]
    fn only_an_only_list_must_name_something() {
        assert_eq!(
            ids("# nothing yet\n").unwrap_err().to_string(),
            "ids.txt: no ids (the plan would be empty)"
        );
        let empty = parse_ids("x.txt", b"id\n", IdListKind::Exclude).unwrap();
        assert!(empty.is_empty());
    }
}
