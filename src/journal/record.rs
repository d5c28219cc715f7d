//! The journal's record types and their JSON shape. Field names are the wire names of the
//! format (camelCase in the header, as in plans), and `Option` fields are written as `null`
//! rather than left out, so that every line of one type has the same keys for a reader
//! with `jq` or `grep`.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, Grant};

/// The `format` a header must carry: tells a journal from any other JSON Lines file.
pub const FORMAT: &str = "handover-journal";

/// The format version this build writes and the only one it reads. Bump it on any change
/// an older handover would misread.
pub const VERSION: u32 = 1;

/// The current time as RFC 3339 in UTC with milliseconds, as every `at` and `started` is
/// written: `2026-11-01T09:30:00.123Z`.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// One line of a journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line, and only the first.
    Header(Header),
    /// About to write one entity's access list.
    Intent(Intent),
    /// What came of one entity.
    Outcome(Outcome),
    /// A run picked this journal up again.
    Resume(Resume),
    /// A run stopped cleanly.
    End(End),
}

impl From<Header> for Record {
    fn from(header: Header) -> Self {
        Record::Header(header)
    }
}

impl From<Intent> for Record {
    fn from(intent: Intent) -> Self {
        Record::Intent(intent)
    }
}

impl From<Outcome> for Record {
    fn from(outcome: Outcome) -> Self {
        Record::Outcome(outcome)
    }
}

impl From<Resume> for Record {
    fn from(resume: Resume) -> Self {
        Record::Resume(resume)
    }
}

impl From<End> for Record {
    fn from(end: End) -> Self {
        Record::End(end)
    }
}

/// Why a journal was written: applying a plan, or rolling one back. A rollback run keeps
/// its own journal, so that it too can be resumed and its own writes undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurposeKind {
    Apply,
    Rollback,
}

impl PurposeKind {
    /// The name used in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            PurposeKind::Apply => "apply",
            PurposeKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for PurposeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first record: which plan, against which server, by which build, for what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this build.
    pub version: u32,
    /// The plan's digest, `sha256:…`, as the plan module computed it.
    pub plan_digest: String,
    /// The API base URL the plan was made against, `https://…/api/v2`.
    pub endpoint: String,
    /// `handover <version>`.
    pub tool: String,
    /// When the journal was created (RFC 3339, UTC).
    pub started: String,
    /// The plan's path as the user gave it.
    pub plan: String,
    /// Apply or rollback.
    pub purpose: PurposeKind,
}

impl Header {
    /// A header for a journal started now by this build.
    pub fn new(
        plan_digest: impl Into<String>,
        endpoint: impl Into<String>,
        plan: impl Into<String>,
        purpose: PurposeKind,
    ) -> Self {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            plan_digest: plan_digest.into(),
            endpoint: endpoint.into(),
            tool: concat!("handover ", env!("CARGO_PKG_VERSION")).to_string(),
            started: timestamp(),
            plan: plan.into(),
            purpose,
        }
    }
}

/// Written, and synced, before an entity's share request is sent: if the run dies after
/// the request went out, the journal still holds the access list to restore.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub kind: EntityKind,
    pub id: String,
    /// The access list as read just before this write.
    pub before: Vec<Grant>,
    /// The share request body, exactly as it will be sent. Kept as JSON so the journal does
    /// not depend on the api module's types.
    pub request: serde_json::Value,
    pub at: String,
    /// `before` is the plan's read, not a read just before the write: `offboard` skips
    /// the re-read when its own plan read the entity less than `--max-read-age` ago.
    /// Absent (false) in journals written before this existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_plan_read: bool,
}

impl Intent {
    /// An intent stamped now.
    pub fn new(
        kind: EntityKind,
        id: impl Into<String>,
        before: Vec<Grant>,
        request: serde_json::Value,
    ) -> Self {
        Intent {
            kind,
            id: id.into(),
            before,
            request,
            at: timestamp(),
            on_plan_read: false,
        }
    }
}

/// How one entity ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The write was sent and accepted (and, where verified, read back as planned).
    Succeeded,
    /// The entity was already at its target; nothing was written.
    AlreadyDone,
    /// The server refused the request because of users it would not remove or demote
    /// (deactivated accounts: contract §11 leaves open whether they may be revoked), so
    /// it was sent again, in the same entity's turn, without those users' changes: the new
    /// owners are in place, those users keep their access, and `error` has the server's
    /// words. Not at its target: listed by `status`, planned again by `--failed-plan`, exit
    /// code 3; but a resume does not send it again and it does not count towards
    /// `--max-errors` (what the server would not do, it would not do on a retry either).
    /// Journals written before it existed never hold it, so they read as before.
    Partial,
    /// The write was accepted, but reading it back failed: the write landed, the check
    /// did not. A failure all the same: `status --failed-plan` plans it again (a no-op if
    /// it is at its target) and `verify --journal` checks it.
    Unconfirmed,
    /// The write failed after its retries.
    Failed,
    /// The access list had changed since the plan was made; nothing was written.
    Drifted,
    /// handover would not write (a safety rule), or the server would not let it.
    Refused,
    /// Left alone on purpose (filtered out, deleted in the meantime).
    Skipped,
}

impl OutcomeKind {
    /// Every outcome, in the order reports list them.
    pub const ALL: [OutcomeKind; 8] = [
        OutcomeKind::Succeeded,
        OutcomeKind::AlreadyDone,
        OutcomeKind::Partial,
        OutcomeKind::Unconfirmed,
        OutcomeKind::Failed,
        OutcomeKind::Drifted,
        OutcomeKind::Refused,
        OutcomeKind::Skipped,
    ];

    /// The name used in journals and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Succeeded => "succeeded",
            OutcomeKind::AlreadyDone => "already_done",
            OutcomeKind::Partial => "partial",
            OutcomeKind::Unconfirmed => "unconfirmed",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Drifted => "drifted",
            OutcomeKind::Refused => "refused",
            OutcomeKind::Skipped => "skipped",
        }
    }

    /// Whether the entity is at its target, so a resume has nothing more to do for it.
    pub fn is_settled(self) -> bool {
        matches!(self, OutcomeKind::Succeeded | OutcomeKind::AlreadyDone)
    }

    /// Whether the entity needs a human's attention: it is neither at its target nor left
    /// alone on purpose. These are what [`crate::journal::Replay::failures`] lists.
    /// `partial` is one: the users the server would not remove still have access.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            OutcomeKind::Partial
                | OutcomeKind::Unconfirmed
                | OutcomeKind::Failed
                | OutcomeKind::Drifted
                | OutcomeKind::Refused
        )
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What came of one entity: written once the worker is done with it, whether or not an
/// intent came first (a drifted or already-done entity is never written).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: EntityKind,
    pub id: String,
    pub outcome: OutcomeKind,
    /// Requests sent for the write, retries included; 0 when nothing was sent.
    pub attempts: u32,
    /// The HTTP status of the last write attempt, if one got an answer.
    pub status: Option<u16>,
    /// Why it failed, drifted, was refused or skipped.
    pub error: Option<String>,
    /// The access list as read back afterwards, if it was.
    pub after: Option<Vec<Grant>>,
    pub at: String,
}

impl Outcome {
    /// An outcome stamped now, with no status, error or read-back; set those fields on the
    /// result (`Outcome { status: Some(204), ..Outcome::new(…) }`).
    pub fn new(
        kind: EntityKind,
        id: impl Into<String>,
        outcome: OutcomeKind,
        attempts: u32,
    ) -> Self {
        Outcome {
            kind,
            id: id.into(),
            outcome,
            attempts,
            status: None,
            error: None,
            after: None,
            at: timestamp(),
        }
    }
}

/// A run picked the journal up again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub at: String,
}

impl Resume {
    /// A resume stamped now.
    pub fn now() -> Self {
        Resume { at: timestamp() }
    }
}

/// A run stopped cleanly: everything done, or drained after Ctrl-C (`interrupted`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub at: String,
    pub interrupted: bool,
}

impl End {
    /// An end stamped now.
    pub fn now(interrupted: bool) -> Self {
        End {
            at: timestamp(),
            interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use serde_json::json;

    #[test]
    fn every_header_starts_with_the_signature_files_looks_for() {
        for purpose in [PurposeKind::Apply, PurposeKind::Rollback] {
            let header = Header::new("sha256:x", "https://e/api/v2/", "p.jsonl", purpose);
            let line = serde_json::to_vec(&Record::Header(header)).unwrap();
            assert!(line.starts_with(crate::files::JOURNAL_SIGNATURE));
        }
    }

    fn grant(name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".to_string(),
            id: None,
            name: name.to_string(),
            role,
            can_share: None,
        }
    }

    /// The lines in the issue, verbatim in shape, must read as the records they describe.
    #[test]
    fn documented_lines_parse() {
        let lines = [
            r#"{"type":"header","format":"handover-journal","version":1,"planDigest":"sha256:ab","endpoint":"https://app.datarobot.com/api/v2","tool":"handover 0.1.0","started":"2026-11-01T09:30:00.000Z","plan":"plan.jsonl","purpose":"apply"}"#,
            r#"{"type":"intent","kind":"project","id":"p1","before":[{"name":"alice","role":"OWNER"}],"request":{"data":[{"username":"bob","role":"OWNER"}]},"at":"2026-11-01T09:30:01.000Z"}"#,
            r#"{"type":"outcome","kind":"data_store","id":"d1","outcome":"already_done","attempts":0,"status":null,"error":null,"after":null,"at":"2026-11-01T09:30:02.000Z"}"#,
            r#"{"type":"resume","at":"2026-11-01T10:00:00.000Z"}"#,
            r#"{"type":"end","at":"2026-11-01T10:00:05.000Z","interrupted":false}"#,
        ];
        let records: Vec<Record> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            matches!(&records[0], Record::Header(h) if h.purpose == PurposeKind::Apply && h.version == 1)
        );
        assert!(
            matches!(&records[1], Record::Intent(i) if i.kind == EntityKind::Project && i.before == vec![grant("alice", Role::Owner)])
        );
        assert!(
            matches!(&records[2], Record::Outcome(o) if o.outcome == OutcomeKind::AlreadyDone && o.status.is_none())
        );
        assert!(matches!(&records[3], Record::Resume(_)));
        assert!(matches!(&records[4], Record::End(e) if !e.interrupted));
    }

    #[test]
    fn records_write_the_documented_keys() {
        let header = serde_json::to_value(Record::from(Header::new(
            "sha256:00",
            "https://x/api/v2",
            "p.jsonl",
            PurposeKind::Rollback,
        )))
        .unwrap();
        assert_eq!(header["type"], "header");
        assert_eq!(header["format"], FORMAT);
        assert_eq!(header["planDigest"], "sha256:00");
        assert_eq!(header["purpose"], "rollback");
        assert_eq!(
            header["tool"],
            format!("handover {}", env!("CARGO_PKG_VERSION"))
        );

        let outcome = serde_json::to_string(&Record::from(Outcome {
            status: Some(204),
            ..Outcome::new(EntityKind::UseCase, "u1", OutcomeKind::Succeeded, 1)
        }))
        .unwrap();
        // "type" leads so a reader can tell records apart at a glance; absent values are
        // explicit nulls.
        assert!(
            outcome.starts_with(r#"{"type":"outcome","kind":"use_case","id":"u1""#),
            "{outcome}"
        );
        assert!(
            outcome.contains(r#""status":204,"error":null,"after":null"#),
            "{outcome}"
        );

        let intent = Record::from(Intent::new(
            EntityKind::File,
            "f1",
            vec![grant("a", Role::Editor)],
            json!({"operation": "updateRoles", "roles": []}),
        ));
        let back: Record = serde_json::from_str(&serde_json::to_string(&intent).unwrap()).unwrap();
        assert_eq!(back, intent);
    }

    /// `partial` came after version 1 journals were first written: it reads and writes by
    /// that name, and needs attention without being settled.
    #[test]
    fn partial_outcomes_read_and_write_by_name() {
        let line = r#"{"type":"outcome","kind":"project","id":"p1","outcome":"partial","attempts":2,"status":204,"error":"the server would not remove inactive@x","after":[],"at":"2026-11-01T09:30:02.000Z"}"#;
        let Record::Outcome(o) = serde_json::from_str(line).unwrap() else {
            panic!("not an outcome");
        };
        assert_eq!(o.outcome, OutcomeKind::Partial);
        assert_eq!(OutcomeKind::Partial.to_string(), "partial");
        assert!(OutcomeKind::Partial.is_failure() && !OutcomeKind::Partial.is_settled());
        let back = serde_json::to_string(&Record::Outcome(o)).unwrap();
        assert!(back.contains(r#""outcome":"partial""#), "{back}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        let t = timestamp();
        assert_eq!(t.len(), "2026-11-01T09:30:00.123Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(humantime::parse_rfc3339(&t).is_ok());
    }
}
