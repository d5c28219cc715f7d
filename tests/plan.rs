//! Plan files: written atomically and privately, read back entry by entry, and refused with
//! the file and line named when truncated, edited, of another version or malformed.

use std::fs;
use std::path::{Path, PathBuf};

use handover::exit;
use handover::model::{EntityKind, Grant, Role};
use handover::plan::{
    self, ActionKind, OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, RefusalKind,
    SourceKind, UserIdent,
};
use sha2::{Digest, Sha256};

fn user(id: &str, name: &str) -> UserIdent {
    UserIdent {
        id: id.into(),
        username: name.into(),
    }
}

fn grant(id: &str, name: &str, role: Role, can_share: Option<bool>) -> Grant {
    Grant {
        recipient_type: "user".into(),
        id: Some(id.into()),
        name: name.into(),
        role,
        can_share,
    }
}

fn header() -> PlanHeader {
    let mut h = PlanHeader::new(
        "http://127.0.0.1:9/api/v2",
        user("ad", "admin@x.com"),
        SourceKind::Offboard {
            from: vec![user("a1", "alice@x.com")],
            to: user("b2", "bob@x.com"),
            old_owner_role: OldOwnerRoleKind::None,
            types: vec![EntityKind::Project, EntityKind::Dataset],
            revoke_other_access: false,
        },
    );
    h.created = "2024-05-01T12:34:56Z".into();
    h.tool_version = "0.0.0-test".into();
    h
}

/// A change (project), a noop (dataset) and a refusal (dataset).
fn entries() -> Vec<PlanEntry> {
    let alice = user("a1", "alice@x.com");
    let bob = user("b2", "bob@x.com");
    let offboard = |kind, current: Vec<Grant>| {
        plan::offboard_target(kind, &current, &alice, &bob, OldOwnerRoleKind::None)
    };
    let p_current = vec![
        grant("a1", "alice@x.com", Role::Owner, Some(true)),
        grant("c3", "=cmd|' /C calc'!A0", Role::Consumer, None),
    ];
    let d_current = vec![grant("b2", "bob@x.com", Role::Owner, Some(true))];
    vec![
        PlanEntry::build(
            EntityKind::Project,
            "p1",
            "Churn, v2",
            p_current.clone(),
            offboard(EntityKind::Project, p_current),
        ),
        PlanEntry::build(
            EntityKind::Dataset,
            "d1",
            "Sales",
            d_current.clone(),
            d_current.clone(),
        ),
        PlanEntry::refused(
            EntityKind::Dataset,
            "d2",
            "Gone",
            vec![],
            vec![],
            &RefusalKind::EntityNotFound,
        ),
    ]
}

fn write_plan(dir: &Path) -> (PathBuf, plan::WrittenPlan) {
    let path = dir.join("plan.jsonl");
    let mut w = PlanWriter::create(&path, &header()).unwrap();
    for e in entries() {
        w.write(&e).unwrap();
    }
    let written = w.finish().unwrap();
    (path, written)
}

fn read_all(path: &Path) -> Result<(PlanHeader, String, Vec<PlanEntry>), plan::Error> {
    let reader = PlanReader::open(path)?;
    let header = reader.header().clone();
    let digest = reader.digest().to_string();
    let entries = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((header, digest, entries))
}

#[test]
fn a_written_plan_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_plan(dir.path());
    assert_eq!(written.entries, 3);
    assert_eq!(written.path, path);
    assert_eq!(written.csv_path, dir.path().join("plan.csv"));

    let reader = PlanReader::open(&path).unwrap();
    assert_eq!(reader.entries(), 3);
    assert_eq!(reader.size_hint(), (3, Some(4)));
    let (h, digest, got) = read_all(&path).unwrap();
    assert_eq!(h, header());
    assert_eq!(digest, written.digest);
    assert_eq!(got, entries());
    assert_eq!(
        got.iter().map(|e| e.action).collect::<Vec<_>>(),
        [ActionKind::Change, ActionKind::Noop, ActionKind::Refused]
    );
}

#[test]
fn the_file_is_a_header_entries_and_a_trailer_whose_digest_covers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_plan(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with(r#"{"format":"handover-plan","version":1,"#));
    assert_eq!(
        lines[4],
        format!(
            r#"{{"type":"end","entries":3,"digest":"{}"}}"#,
            written.digest
        )
    );
    let mut hasher = Sha256::new();
    for line in &lines[..4] {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    assert_eq!(
        written.digest,
        format!("sha256:{}", hex::encode(hasher.finalize()))
    );
    // The transfer: one request, new owner first, old owner revoked with role null.
    assert!(
        lines[1].contains(
            r#""request":{"changes":[{"recipient_type":"user","id":"b2","name":"bob@x.com","role":"OWNER"},{"recipient_type":"user","id":"a1","name":"alice@x.com","role":null}],"notify":false}"#
        ),
        "{}",
        lines[1]
    );
}

#[cfg(unix)]
#[test]
fn plan_and_csv_are_private_and_no_temp_file_is_left() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_plan(dir.path());
    for p in [&path, &written.csv_path] {
        let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["plan.csv", "plan.jsonl"]);
}

#[test]
fn an_unfinished_plan_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.jsonl");
    {
        let mut w = PlanWriter::create(&path, &header()).unwrap();
        w.write(&entries()[0]).unwrap();
        assert_eq!(w.summary().total().change, 1);
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn finishing_replaces_an_older_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.jsonl");
    fs::write(&path, "old").unwrap();
    let mut w = PlanWriter::create(&path, &header()).unwrap();
    w.write(&entries()[1]).unwrap();
    w.finish().unwrap();
    assert_eq!(PlanReader::open(&path).unwrap().entries(), 1);
}

#[test]
fn an_empty_plan_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jsonl");
    let written = PlanWriter::create(&path, &header())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(written.entries, 0);
    let (_, digest, got) = read_all(&path).unwrap();
    assert!(got.is_empty());
    assert_eq!(digest, written.digest);
}

#[test]
fn companion_csv_has_one_row_per_changed_principal_and_defuses_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let (_, written) = write_plan(dir.path());
    assert_eq!(
        fs::read_to_string(&written.csv_path).unwrap(),
        "\
type,id,name,action,principal,principal_type,role_before,role_after,can_share_before,can_share_after,reason,notifies
project,p1,\"Churn, v2\",change,bob@x.com,user,NONE,OWNER,,,,
project,p1,\"Churn, v2\",change,alice@x.com,user,OWNER,NONE,true,,,
dataset,d1,Sales,noop,,,,,,,,
dataset,d2,Gone,refused,,,,,,,entity not found or not visible to the caller,
"
    );
    // The consumer named like a formula is untouched, so it has no row; check the cell
    // rule on an entry that changes it.
    let current = vec![
        grant("a1", "alice@x.com", Role::Owner, None),
        grant("c3", "=cmd", Role::Consumer, Some(false)),
    ];
    let mut target = current.clone();
    target[1].role = Role::Editor;
    let path = dir.path().join("f.jsonl");
    let mut w = PlanWriter::create(&path, &header()).unwrap();
    w.write(&PlanEntry::build(
        EntityKind::RegisteredModel,
        "u1",
        "@risk",
        current,
        target,
    ))
    .unwrap();
    let written = w.finish().unwrap();
    assert_eq!(
        fs::read_to_string(written.csv_path)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap(),
        "registered_model,u1,'@risk,change,'=cmd,user,CONSUMER,EDITOR,false,false,,"
    );
}

#[test]
fn companion_csv_path_rules() {
    assert_eq!(
        plan::companion_csv_path(Path::new("out/plan.jsonl")),
        Path::new("out/plan.csv")
    );
    assert_eq!(
        plan::companion_csv_path(Path::new("plan")),
        Path::new("plan.csv")
    );
    assert_eq!(
        plan::companion_csv_path(Path::new("x/plan.CSV")),
        Path::new("x/plan.plan.csv")
    );
}

#[test]
fn summary_of_a_written_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (_, written) = write_plan(dir.path());
    assert_eq!(
        plan::render_table(&written.summary),
        "\
type      to change  already done  refused
projects          1             0        0
datasets          0             1        1
total             1             1        1
"
    );
}

/// Rewrites line `n` (1-based) of the file.
fn edit_line(path: &Path, n: usize, edit: impl FnOnce(&str) -> String) {
    let text = fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[n - 1] = edit(&lines[n - 1]);
    fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn open_err(path: &Path) -> plan::Error {
    match read_all(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    }
}

#[test]
fn an_edited_entry_fails_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_plan(dir.path());
    edit_line(&path, 3, |l| l.replace("\"Sales\"", "\"Sale$\""));
    let err = open_err(&path);
    assert_eq!(
        err.to_string(),
        format!(
            "{}:5: digest mismatch: the plan was edited after it was written",
            path.display()
        )
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
}

#[test]
fn an_edited_header_fails_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_plan(dir.path());
    edit_line(&path, 1, |l| l.replace("127.0.0.1:9", "127.0.0.1:8"));
    assert!(
        open_err(&path)
            .to_string()
            .ends_with(":5: digest mismatch: the plan was edited after it was written")
    );
}

#[test]
fn a_plan_swapped_after_open_is_caught_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let mut w = PlanWriter::create(&path, &header()).unwrap();
    let noop = &entries()[1];
    for i in 0..200 {
        let mut e = noop.clone();
        e.id = format!("d{i:03}");
        w.write(&e).unwrap();
    }
    w.finish().unwrap();
    let mut reader = PlanReader::open(&path).unwrap();
    assert!(reader.next().unwrap().is_ok());
    // Past the reader's buffer, same length, same inode: the reader sees the new bytes.
    edit_line(&path, 200, |l| l.replace("\"Sales\"", "\"Sale$\""));
    let items: Vec<_> = reader.by_ref().collect();
    assert_eq!(items.len(), 200);
    assert!(items[..199].iter().all(Result::is_ok));
    assert_eq!(
        items[199].as_ref().unwrap_err().to_string(),
        format!(
            "{}:202: digest mismatch: the plan changed while being read",
            path.display()
        )
    );
    assert!(reader.next().is_none());
}

#[test]
fn a_removed_entry_fails_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_plan(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    fs::write(
        &path,
        [lines[0], lines[1], lines[3], lines[4]].join("\n") + "\n",
    )
    .unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "{}:4: trailer counts 3 entries but the plan has 2: the plan was edited",
            path.display()
        )
    );
}

#[test]
fn a_truncated_plan_is_refused_naming_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_plan(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    // Without the trailer.
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    fs::write(&path, &text[..cut]).unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "{}:4: expected the end trailer {{\"type\":\"end\",…}}: the plan is truncated or was edited",
            path.display()
        )
    );
    // Mid-line.
    fs::write(&path, &text[..cut - 20]).unwrap();
    assert!(
        open_err(&path)
            .to_string()
            .contains(":4: expected the end trailer")
    );
    // Header only.
    let first = text.find('\n').unwrap() + 1;
    fs::write(&path, &text[..first]).unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "{}:2: missing end trailer: the plan is truncated",
            path.display()
        )
    );
    // Nothing.
    fs::write(&path, "").unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!("{}:1: empty file, not a handover plan", path.display())
    );
}

#[test]
fn a_missing_plan_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.jsonl");
    let err = open_err(&path);
    assert_eq!(err.to_string(), format!("cannot read {}", path.display()));
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);
}

/// Writes `lines` as a plan with a correct trailer, as a buggy or future writer might.
fn forge(path: &Path, lines: &[String]) {
    let mut hasher = Sha256::new();
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    hasher.update(text.as_bytes());
    text.push_str(&format!(
        "{{\"type\":\"end\",\"entries\":{},\"digest\":\"sha256:{}\"}}\n",
        lines.len() - 1,
        hex::encode(hasher.finalize())
    ));
    fs::write(path, text).unwrap();
}

fn header_line() -> String {
    serde_json::to_string(&header()).unwrap()
}

fn entry_line(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = serde_json::to_value(&entries()[0]).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn other_versions_and_other_files_are_refused_on_line_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    let cases = [
        (
            header_line().replace(r#""version":1"#, r#""version":2"#),
            "1: plan format version 2 is not supported (this handover reads version 1)",
        ),
        (
            header_line().replace(r#""version":1,"#, ""),
            "1: field version: missing or not a number",
        ),
        (
            header_line().replace("handover-plan", "handover-journal"),
            "1: not a handover plan (no \"format\":\"handover-plan\")",
        ),
        (
            "entity_type,entity_id,username,role".to_string(),
            "1: not a handover plan (line 1 is not a JSON object)",
        ),
        (
            header_line().replace(r#""mode":"offboard""#, r#""mode":"magic""#),
            "1: field source.mode: unknown variant `magic`, expected one of `offboard`, `offboard_map`, `orphans`, `csv` (column",
        ),
    ];
    for (line, want) in cases {
        forge(&path, &[line]);
        let got = open_err(&path).to_string();
        let want = format!("{}:{want}", path.display());
        assert!(got.starts_with(&want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn a_malformed_entry_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    let good = entry_line(|_| {});
    let cases: Vec<(String, &str)> = vec![
        (
            entry_line(|v| v["current"][1]["role"] = "OWNR".into()),
            "3: field current[1].role: unknown variant `OWNR`, expected one of `CONSUMER`, `EDITOR`, `OWNER` (column",
        ),
        (
            entry_line(|v| v["kind"] = "widget".into()),
            "3: field kind: unknown variant `widget`",
        ),
        (
            entry_line(|v| {
                v.as_object_mut().unwrap().remove("fingerprint");
            }),
            "3: missing field `fingerprint` (column",
        ),
        (
            entry_line(|v| {
                v.as_object_mut().unwrap().remove("request");
            }),
            "3: field request: missing for action \"change\"",
        ),
        (
            entry_line(|v| v["action"] = "noop".into()),
            "3: field request: present for an action other than \"change\"",
        ),
        (
            entry_line(|v| {
                v["action"] = "refused".into();
                v.as_object_mut().unwrap().remove("request");
            }),
            "3: field reason: missing for action \"refused\"",
        ),
        (
            entry_line(|v| v["request"]["changes"] = serde_json::json!([])),
            "3: field request.changes: empty for action \"change\"",
        ),
        (format!("{good} trailing"), "3: trailing characters (column"),
    ];
    for (bad, want) in cases {
        forge(&path, &[header_line(), good.clone(), bad]);
        // Refused when opened, before the executor could send anything for the good
        // entry before it.
        let Err(err) = PlanReader::open(&path) else {
            panic!("a plan with a bad entry was opened: {want}");
        };
        assert_eq!(err.exit_code(), exit::INVALID_INPUT);
        let got = err.to_string();
        let want = format!("{}:{want}", path.display());
        assert!(got.starts_with(&want), "\n got: {got}\nwant: {want}");
    }
}
