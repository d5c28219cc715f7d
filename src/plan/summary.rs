//! How many entities of each kind a plan changes, finds already done, and refuses.

use std::collections::BTreeMap;

use crate::model::EntityKind;

use super::entry::{ActionKind, PlanEntry};

/// Entry counts for one kind (or the total).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entries with a request to send.
    pub change: u64,
    /// Entries already at their target.
    pub noop: u64,
    /// Entries refused.
    pub refused: u64,
    /// Of `change`, the revoke-only entries of an offboarding ([`PlanEntry::revoke_only`]):
    /// a departing user's role on an entity no departing user owns.
    pub revoke_only: u64,
}

impl Counts {
    fn add(&mut self, action: ActionKind) {
        match action {
            ActionKind::Change => self.change += 1,
            ActionKind::Noop => self.noop += 1,
            ActionKind::Refused => self.refused += 1,
        }
    }

    /// All entries counted.
    pub fn entries(&self) -> u64 {
        self.change + self.noop + self.refused
    }
}

/// Counts per kind, in [`EntityKind::ALL`] order. Kinds with no entry are not listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    by_kind: BTreeMap<EntityKind, Counts>,
    /// Notifications applying will make the server send ([`PlanEntry::notifications`]).
    notifications: u64,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Counts one entry.
    pub fn add(&mut self, entry: &PlanEntry) {
        self.record(entry.kind, entry.action);
        if entry.revoke_only && entry.action == ActionKind::Change {
            self.by_kind.entry(entry.kind).or_default().revoke_only += 1;
        }
        self.notifications += entry.notifications();
    }

    /// How many notifications applying the plan will make DataRobot send, which nothing
    /// on the wire can stop (secure configurations, contract §12 X5).
    pub fn notifications(&self) -> u64 {
        self.notifications
    }

    /// Counts one entry of `kind` with `action`.
    pub fn record(&mut self, kind: EntityKind, action: ActionKind) {
        self.by_kind.entry(kind).or_default().add(action);
    }

    /// The counts for `kind` (zero when none was seen).
    pub fn get(&self, kind: EntityKind) -> Counts {
        self.by_kind.get(&kind).copied().unwrap_or_default()
    }

    /// The kinds seen, with their counts, in [`EntityKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (EntityKind, Counts)> + '_ {
        self.by_kind.iter().map(|(k, c)| (*k, *c))
    }

    /// The sum over every kind.
    pub fn total(&self) -> Counts {
        self.by_kind
            .values()
            .fold(Counts::default(), |acc, c| Counts {
                change: acc.change + c.change,
                noop: acc.noop + c.noop,
                refused: acc.refused + c.refused,
                revoke_only: acc.revoke_only + c.revoke_only,
            })
    }
}

/// The summary as a plain aligned table, one row per kind seen and a total row:
///
/// ```text
/// type          to change  already done  refused
/// projects              3             1        0
/// data sources          0             2        1
/// total                 3             3        1
/// ```
///
/// When the plan has revoke-only entries (an offboarding that also removes what the
/// departing user holds without owning), they get their own column, `to revoke`, after
/// `to change`, which then counts the other changes only.
///
/// The first column is left-aligned, the numbers right-aligned under their headings,
/// columns separated by two spaces, no trailing spaces, each line ending in `\n`. Tests
/// pin this format; change it only on purpose.
///
/// When applying will make the server notify people (secure configurations), one more
/// line says how many, before anything is sent:
///
/// ```text
/// notifications: applying makes DataRobot send 2 (one to each user given a role on a secure configuration; nothing on the wire turns that off)
/// ```
pub fn render_table(summary: &Summary) -> String {
    let revokes = summary.total().revoke_only > 0;
    let mut headings = vec!["type", "to change"];
    if revokes {
        headings.push("to revoke");
    }
    headings.extend(["already done", "refused"]);
    let mut rows: Vec<Vec<String>> = summary
        .iter()
        .map(|(kind, c)| row(kind.plural_label(), c, revokes))
        .collect();
    rows.push(row("total", summary.total(), revokes));

    let mut widths: Vec<usize> = headings.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let headings: Vec<String> = headings.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&headings).chain(&rows) {
        let mut line = format!("{:<w$}", r[0], w = widths[0]);
        for (cell, w) in r[1..].iter().zip(&widths[1..]) {
            line.push_str(&format!("  {cell:>w$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(line) = notification_line(summary.notifications) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The sentence that says how many notifications applying will cause; `None` for none.
pub fn notification_line(notifications: u64) -> Option<String> {
    (notifications > 0).then(|| {
        format!(
            "notifications: applying makes DataRobot send {notifications} (one to each user \
             given a role on a secure configuration; nothing on the wire turns that off)"
        )
    })
}

fn row(label: &str, c: Counts, revokes: bool) -> Vec<String> {
    let mut cells = vec![label.to_string()];
    if revokes {
        cells.push((c.change - c.revoke_only).to_string());
        cells.push(c.revoke_only.to_string());
    } else {
        cells.push(c.change.to_string());
    }
    cells.push(c.noop.to_string());
    cells.push(c.refused.to_string());
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_kinds_in_canonical_order_with_a_total() {
        let mut s = Summary::new();
        for _ in 0..3 {
            s.record(EntityKind::Project, ActionKind::Change);
        }
        s.record(EntityKind::Project, ActionKind::Noop);
        s.record(EntityKind::DataSource, ActionKind::Refused);
        s.record(EntityKind::DataSource, ActionKind::Noop);
        s.record(EntityKind::DataSource, ActionKind::Noop);
        assert_eq!(
            render_table(&s),
            "\
type          to change  already done  refused
projects              3             1        0
data sources          0             2        1
total                 3             3        1
"
        );
        assert_eq!(s.get(EntityKind::Project).entries(), 4);
        assert_eq!(s.get(EntityKind::File), Counts::default());
    }

    #[test]
    fn the_notification_line_appears_only_when_applying_notifies_someone() {
        assert_eq!(notification_line(0), None);
        let mut s = Summary::new();
        s.record(EntityKind::Project, ActionKind::Change);
        assert!(!render_table(&s).contains("notifications"));
        s.notifications = 2;
        let table = render_table(&s);
        assert!(
            table.ends_with(
                "notifications: applying makes DataRobot send 2 (one to each user given a role \
                 on a secure configuration; nothing on the wire turns that off)\n"
            ),
            "{table}"
        );
    }

    #[test]
    fn empty_summary_renders_a_zero_total() {
        assert_eq!(
            render_table(&Summary::new()),
            "type   to change  already done  refused\ntotal          0             0        0\n"
        );
    }

    #[test]
    fn wide_numbers_widen_their_column() {
        let mut s = Summary::new();
        s.record(EntityKind::ExecutionEnvironment, ActionKind::Change);
        s.by_kind
            .get_mut(&EntityKind::ExecutionEnvironment)
            .unwrap()
            .change = 12_345_678_901;
        assert_eq!(
            render_table(&s),
            "\
type                      to change  already done  refused
execution environments  12345678901             0        0
total                   12345678901             0        0
"
        );
    }

    #[test]
    fn revoke_only_entries_get_their_own_column() {
        let mut s = Summary::new();
        s.record(EntityKind::Project, ActionKind::Change);
        s.record(EntityKind::Project, ActionKind::Change);
        s.by_kind.get_mut(&EntityKind::Project).unwrap().revoke_only = 1;
        s.record(EntityKind::Dataset, ActionKind::Refused);
        assert_eq!(
            render_table(&s),
            "\
type      to change  to revoke  already done  refused
projects          1          1             0        0
datasets          0          0             0        1
total             1          1             0        1
"
        );
    }
}
