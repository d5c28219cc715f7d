//! CSV plans: every file in the bad corpus is refused with exactly its `.expected`
//! message; the good files parse as they should; the shipped examples parse.

use std::fs;
use std::path::{Path, PathBuf};

use handover::exit;
use handover::model::{EntityKind, Role};
use handover::plan::csvplan::{self, CsvChange, CsvRow};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/csv")
        .join(dir)
}

fn parse_file(path: &Path) -> Result<Vec<CsvChange>, csvplan::Error> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    csvplan::parse(&name, &fs::read(path).unwrap())
}

#[test]
fn every_bad_file_is_refused_with_its_expected_message() {
    let mut cases: Vec<PathBuf> = fs::read_dir(data("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} bad cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let expected_path = case.with_extension("expected");
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", case.display()));
        let expected = expected.strip_suffix('\n').unwrap_or(&expected);
        match parse_file(case) {
            Ok(changes) => failures.push(format!(
                "{}: accepted, {} entities",
                case.display(),
                changes.len()
            )),
            Err(err) => {
                assert_eq!(err.exit_code(), exit::INVALID_INPUT);
                let actual = err.to_string();
                if actual != expected {
                    failures.push(format!(
                        "{}:\n  expected: {expected:?}\n  actual:   {actual:?}",
                        case.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_expected_file_has_its_csv() {
    for entry in fs::read_dir(data("bad")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(
                path.with_extension("csv").exists(),
                "{} has no .csv",
                path.display()
            );
        }
    }
}

fn row(username: &str, role: Option<Role>, can_share: Option<bool>, line: u64) -> CsvRow {
    CsvRow {
        username: username.to_string(),
        role,
        can_share,
        line,
    }
}

#[test]
fn bom_crlf_mixed_case_headers_and_free_column_order() {
    let changes = parse_file(&data("good").join("bom_crlf.csv")).unwrap();
    assert_eq!(
        changes,
        vec![
            CsvChange {
                kind: EntityKind::Project,
                id: "5f1".into(),
                rows: vec![
                    row("bob@x.com", Some(Role::Owner), None, 2),
                    row("alice@x.com", None, None, 3),
                ],
            },
            CsvChange {
                kind: EntityKind::Dataset,
                id: "d1".into(),
                rows: vec![row("carol@x.com", Some(Role::Consumer), Some(false), 5)],
            },
        ]
    );
}

#[test]
fn quoting_whitespace_comments_and_blank_lines() {
    let changes = parse_file(&data("good").join("quoting.csv")).unwrap();
    assert_eq!(
        changes,
        vec![
            CsvChange {
                kind: EntityKind::Project,
                id: "p1".into(),
                rows: vec![
                    row("bob@x.com", Some(Role::Owner), None, 4),
                    row("alice@x.com", Some(Role::Consumer), None, 5),
                ],
            },
            CsvChange {
                kind: EntityKind::DataSource,
                id: "ds1".into(),
                rows: vec![row("carol@x.com", Some(Role::Editor), None, 6)],
            },
        ]
    );
}

#[test]
fn kind_and_role_aliases() {
    let changes = parse_file(&data("good").join("aliases.csv")).unwrap();
    let got: Vec<_> = changes
        .iter()
        .map(|c| (c.kind, c.rows[0].role, c.rows[0].can_share))
        .collect();
    assert_eq!(
        got,
        vec![
            (EntityKind::DataStore, Some(Role::Editor), Some(true)),
            (EntityKind::Deployment, Some(Role::Consumer), Some(false)),
            (EntityKind::UseCase, None, None),
            (EntityKind::Calendar, Some(Role::Editor), None),
            (EntityKind::File, Some(Role::Editor), Some(true)),
            (
                EntityKind::RegisteredModel,
                Some(Role::Consumer),
                Some(false)
            ),
            (EntityKind::UserBlueprint, Some(Role::Owner), None),
        ]
    );
}

#[test]
fn read_names_the_path_and_refuses_a_missing_file() {
    let missing = data("good").join("no-such-file.csv");
    let err = csvplan::read(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", missing.display())
    );
    assert_eq!(err.exit_code(), exit::INVALID_INPUT);

    let bad = data("bad").join("unknown_role.csv");
    let err = csvplan::read(&bad).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3: field role:", bad.display())),
        "{err}"
    );
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].line, Some(3));
}

#[test]
fn shipped_example_plans_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-plans");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            let changes = csvplan::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!changes.is_empty(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 2, "only {seen} example plans");
}
