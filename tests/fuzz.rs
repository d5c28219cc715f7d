//! Fuzzing the readers of files a user hands to handover, with proptest: the CSV plan
//! reader (`csvplan::parse`), the plan reader (`PlanReader::open` and its entries) and the
//! journal readers (`Replay::read`, `Journal::open_existing`). Inputs are arbitrary bytes,
//! CSV token soup, and valid files under random mutations (bit flips, inserted tokens,
//! deletions, truncations, lines dropped or duplicated); a plan's entries are also mutated
//! behind a recomputed trailer, so that the mutations get past the digest to the entry
//! parser. Whatever the input, a reader never panics, and every error names the file.
//!
//! Deterministic: each property runs a fixed number of cases from a fixed seed with
//! ChaCha (set in [`config`], so `PROPTEST_RNG_SEED` and `PROPTEST_CASES` do not change
//! what CI runs), and failures are not persisted to files (a failure prints its minimal
//! input, and the fixed seed reproduces it). The case counts keep the whole file to a few
//! seconds in a debug build on two cores.

use std::fs;
use std::path::{Path, PathBuf};

use handover::journal::{
    End, Header, Intent, Journal, Outcome, OutcomeKind, PurposeKind, Record, Replay, Resume,
};
use handover::model::{EntityKind, Grant, Role};
use handover::plan::csvplan;
use handover::plan::{
    OldOwnerRoleKind, PlanEntry, PlanHeader, PlanReader, PlanWriter, SourceKind, UserIdent,
    offboard_target, sha256_hex,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use tempfile::TempDir;

/// A fixed number of cases from a fixed seed, nothing written to disk on failure.
fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Mutations.

/// Bytes worth inserting: the delimiters and escapes of CSV and JSON, line ends, a BOM,
/// NUL, invalid UTF-8, numbers that do not fit, and words the readers look for.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b",",
    b"\"",
    b"#",
    b"\xEF\xBB\xBF",
    b"\0",
    b"\xff",
    b"\xc3",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\\",
    b"null",
    b"true",
    b"-1",
    b"18446744073709551616",
    b"1e999",
    b"OWNER",
    b"NONE",
    b"project",
    b"\"type\":\"end\"",
    b"\"type\":\"header\"",
    b"\"type\":\"intent\"",
    b"\"type\":\"outcome\"",
    b"\"role\":null",
    b"entity_type,entity_id,username,role",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: Index, bit: u8 },
    Set { at: Index, byte: u8 },
    InsertToken { at: Index, token: Index },
    InsertBytes { at: Index, bytes: Vec<u8> },
    Delete { at: Index, len: usize },
    Truncate { at: Index },
    DropLine { line: Index },
    DuplicateLine { line: Index, to: Index },
    SwapLines { a: Index, b: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<Index>(), any::<Index>())
            .prop_map(|(at, token)| Mutation::InsertToken { at, token }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        (any::<Index>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        any::<Index>().prop_map(|line| Mutation::DropLine { line }),
        (any::<Index>(), any::<Index>())
            .prop_map(|(line, to)| Mutation::DuplicateLine { line, to }),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

/// Lines with their `\n` (the last may lack one).
fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip { at, bit } if len > 0 => bytes[at.index(len)] ^= 1 << bit,
        Mutation::Set { at, byte } if len > 0 => bytes[at.index(len)] = *byte,
        Mutation::InsertToken { at, token } => {
            let token = TOKENS[token.index(TOKENS.len())];
            let at = at.index(len + 1);
            bytes.splice(at..at, token.iter().copied());
        }
        Mutation::InsertBytes { at, bytes: new } => {
            let at = at.index(len + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Delete { at, len: n } if len > 0 => {
            let at = at.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate { at } => bytes.truncate(at.index(len + 1)),
        Mutation::DropLine { line } => {
            let mut lines = split_lines(bytes);
            if !lines.is_empty() {
                lines.remove(line.index(lines.len()));
                *bytes = lines.concat();
            }
        }
        Mutation::DuplicateLine { line, to } => {
            let mut lines = split_lines(bytes);
            if !lines.is_empty() {
                let copy = lines[line.index(lines.len())].clone();
                lines.insert(to.index(lines.len() + 1), copy);
                *bytes = lines.concat();
            }
        }
        Mutation::SwapLines { a, b } => {
            let mut lines = split_lines(bytes);
            if !lines.is_empty() {
                let (a, b) = (a.index(lines.len()), b.index(lines.len()));
                lines.swap(a, b);
                *bytes = lines.concat();
            }
        }
        // A byte mutation of an empty input: nothing to do.
        _ => {}
    }
}

fn mutated(original: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for m in ms {
        apply(&mut bytes, m);
    }
    bytes
}

/// A file of its own for one case, removed (with a journal's pid file) when dropped. A new
/// name each time: truncating and rewriting one file makes ext4 flush it to disk (its
/// `auto_da_alloc`), which would make these tests wait on the disk, not the readers.
struct FreshFile(PathBuf);

impl FreshFile {
    fn new(dir: &Path, suffix: &str, bytes: &[u8]) -> FreshFile {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("fuzz-{n}.{suffix}"));
        fs::write(&path, bytes).unwrap();
        FreshFile(path)
    }
}

impl Drop for FreshFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_file(handover::journal::pid_path(&self.0));
    }
}

// ---------------------------------------------------------------------------------------
// CSV plans.

const CSV_NAME: &str = "fuzz/plan.csv";

/// A CSV reader's error must name the file on every line it prints.
fn check_csv(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = csvplan::parse(CSV_NAME, bytes) {
        let text = e.to_string();
        prop_assert!(!text.is_empty());
        prop_assert!(!e.problems().is_empty(), "an error with no problem: {text}");
        for line in text.lines() {
            prop_assert!(
                line.starts_with(CSV_NAME),
                "a line that does not name the file: {line:?}"
            );
        }
    }
    Ok(())
}

/// The good CSV plans of the test corpus and the shipped examples.
fn good_csvs() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("tests/data/csv/good"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    let csvs: Vec<Vec<u8>> = files.iter().map(|p| fs::read(p).unwrap()).collect();
    assert!(!csvs.is_empty());
    for csv in &csvs {
        csvplan::parse("good.csv", csv).expect("the good corpus parses");
    }
    csvs
}

/// Words and delimiters a CSV plan is made of, plus a few random bytes.
fn csv_soup() -> impl Strategy<Value = Vec<u8>> {
    const WORDS: &[&str] = &[
        "entity_type",
        "entity_id",
        "username",
        "role",
        "can_share",
        ",",
        ",",
        ",",
        "\n",
        "\n",
        "\r\n",
        "\"",
        "#",
        " ",
        "\u{feff}",
        "project",
        "projects",
        "dataset",
        "calendar",
        "widget",
        "p1",
        "65eabff63a3572dfe45fb5ad",
        "bob@x.com",
        "BOB@X.COM",
        "OWNER",
        "EDITOR",
        "CONSUMER",
        "NONE",
        "READ_ONLY",
        "true",
        "maybe",
        "",
    ];
    let piece = prop_oneof![
        8 => prop::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config(3000, 0x6373_7631))]

    #[test]
    fn csv_plans_of_arbitrary_bytes_are_refused_naming_the_file(
        bytes in prop::collection::vec(any::<u8>(), 0..300)
    ) {
        check_csv(&bytes)?;
    }

    #[test]
    fn csv_plans_of_csv_words_never_panic_and_name_the_file(bytes in csv_soup()) {
        check_csv(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(3000, 0x6373_7632))]

    #[test]
    fn mutated_csv_plans_never_panic_and_name_the_file(
        which in any::<Index>(),
        ms in mutations(),
    ) {
        thread_local!(static GOOD: Vec<Vec<u8>> = good_csvs());
        let bytes = GOOD.with(|good| mutated(&good[which.index(good.len())], &ms));
        check_csv(&bytes)?;
    }
}

// ---------------------------------------------------------------------------------------
// Plans.

fn user(name: &str, n: u8) -> UserIdent {
    UserIdent {
        id: format!("{n:024x}"),
        username: name.to_string(),
    }
}

fn grant(u: &UserIdent, role: Role, can_share: Option<bool>) -> Grant {
    Grant {
        recipient_type: "user".to_string(),
        id: Some(u.id.clone()),
        name: u.username.clone(),
        role,
        can_share,
    }
}

/// A valid plan with changes, a no-op and a refusal, over kinds of both dialects.
fn seed_plan(path: &Path) -> Vec<u8> {
    let from = user("alice@acme.test", 1);
    let to = user("bob@acme.test", 2);
    let other = user("carol@acme.test", 3);
    let header = PlanHeader::new(
        "https://dr.example.com/api/v2",
        user("admin@acme.test", 9),
        SourceKind::Offboard {
            from: vec![from.clone()],
            to: to.clone(),
            old_owner_role: OldOwnerRoleKind::None,
            types: EntityKind::ALL.to_vec(),
            revoke_other_access: false,
        },
    );
    let mut writer = PlanWriter::create(path, &header).unwrap();
    let kinds = [
        EntityKind::Project,
        EntityKind::Dataset,
        EntityKind::Calendar,
        EntityKind::Deployment,
        EntityKind::File,
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let current = vec![
            grant(&from, Role::Owner, Some(true)),
            grant(&other, Role::Consumer, Some(false)),
        ];
        let target = offboard_target(kind, &current, &from, &to, OldOwnerRoleKind::None);
        let entry = PlanEntry::build(
            kind,
            format!("{i:024x}"),
            format!("{kind} \"{i}\""),
            current,
            target,
        );
        writer.write(&entry).unwrap();
    }
    // Already at its target.
    let done = vec![grant(&to, Role::Owner, Some(true))];
    writer
        .write(&PlanEntry::build(
            EntityKind::UseCase,
            "u1",
            "done",
            done.clone(),
            done,
        ))
        .unwrap();
    // Refused: the target has no owner.
    let current = vec![grant(&from, Role::Owner, None)];
    let target = vec![grant(&other, Role::Editor, None)];
    writer
        .write(&PlanEntry::build(
            EntityKind::DataStore,
            "s1",
            "refused",
            current,
            target,
        ))
        .unwrap();
    writer.finish().unwrap();
    fs::read(path).unwrap()
}

/// `body` (header and entries) with a trailer that matches it, so that the reader gets past
/// the count and the digest to the lines themselves.
fn with_fresh_trailer(mut body: Vec<u8>) -> Vec<u8> {
    if body.last().is_some_and(|&b| b != b'\n') {
        body.push(b'\n');
    }
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    let trailer = serde_json::json!({
        "type": "end",
        "entries": lines.saturating_sub(1),
        "digest": sha256_hex(&body),
    });
    body.extend_from_slice(format!("{trailer}\n").as_bytes());
    body
}

struct PlanFixture {
    dir: TempDir,
    original: Vec<u8>,
}

impl PlanFixture {
    fn new() -> PlanFixture {
        let dir = tempfile::tempdir().unwrap();
        let original = seed_plan(&dir.path().join("seed.jsonl"));
        PlanReader::open(dir.path().join("seed.jsonl")).expect("the seed plan reads");
        PlanFixture { dir, original }
    }

    /// The original without its trailer.
    fn body(&self) -> Vec<u8> {
        let lines = split_lines(&self.original);
        lines[..lines.len() - 1].concat()
    }
}

/// Reads `bytes` as a plan at `path`: no panic; every error names the file; and a plan that
/// opens has entries that all parse (the reader checks them all up front).
fn check_plan(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let file = FreshFile::new(dir, "plan.jsonl", bytes);
    let path = &file.0;
    let shown = path.display().to_string();
    match PlanReader::open(path) {
        Err(e) => {
            let text = e.to_string();
            prop_assert!(text.contains(&shown), "error without the file: {text}");
            prop_assert!(!text.contains('\n'), "a multi-line error: {text:?}");
        }
        Ok(reader) => {
            let expected = reader.entries();
            let mut read = 0u64;
            for entry in reader {
                match entry {
                    Ok(_) => read += 1,
                    Err(e) => prop_assert!(false, "opened, then entry {} failed: {e}", read + 1),
                }
            }
            prop_assert_eq!(read, expected);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2500, 0x706c_616e))]

    #[test]
    fn mutated_plans_are_refused_naming_the_file(ms in mutations()) {
        thread_local!(static PLAN: PlanFixture = PlanFixture::new());
        PLAN.with(|p| check_plan(p.dir.path(), &mutated(&p.original, &ms)))?;
    }

    #[test]
    fn plans_with_mutated_lines_and_a_fresh_trailer_never_panic(ms in mutations()) {
        thread_local!(static PLAN: PlanFixture = PlanFixture::new());
        PLAN.with(|p| {
            let bytes = with_fresh_trailer(mutated(&p.body(), &ms));
            check_plan(p.dir.path(), &bytes)
        })?;
    }
}

// ---------------------------------------------------------------------------------------
// Journals.

/// A journal of a run that was resumed and stopped cleanly, with an entity left in flight
/// (its intent's request body is read lazily, a path of its own in the reader).
fn seed_journal(path: &Path) -> Vec<u8> {
    let header = Header::new(
        "sha256:5f2b",
        "https://dr.example.com/api/v2",
        "plan.jsonl",
        PurposeKind::Apply,
    );
    let alice = user("alice@acme.test", 1);
    let bob = user("bob@acme.test", 2);
    let before = vec![grant(&alice, Role::Owner, Some(true))];
    let request = serde_json::json!({"data": [
        {"username": "bob@acme.test", "role": "OWNER"},
        {"username": "alice@acme.test", "role": null},
    ]});
    let mut j = Journal::create(path, &header).unwrap();
    for (i, what) in [
        OutcomeKind::Succeeded,
        OutcomeKind::Failed,
        OutcomeKind::Refused,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("p{i}");
        j.append(&Intent::new(EntityKind::Project, &id, before.clone(), request.clone()).into());
        j.append(
            &Outcome {
                status: Some(204),
                error: what.is_failure().then(|| format!("{id} went wrong")),
                after: Some(vec![grant(&bob, Role::Owner, Some(true))]),
                ..Outcome::new(EntityKind::Project, &id, what, 1)
            }
            .into(),
        );
    }
    j.append(&Record::from(End::now(true)));
    j.append(&Record::from(Resume::now()));
    j.append(&Outcome::new(EntityKind::Dataset, "d1", OutcomeKind::Drifted, 0).into());
    j.append(&Intent::new(EntityKind::Calendar, "c1", before, request).into());
    j.sync().unwrap();
    drop(j);
    fs::read(path).unwrap()
}

struct JournalFixture {
    dir: TempDir,
    original: Vec<u8>,
}

impl JournalFixture {
    fn new() -> JournalFixture {
        let dir = tempfile::tempdir().unwrap();
        let original = seed_journal(&dir.path().join("seed.journal.jsonl"));
        Replay::read(dir.path().join("seed.journal.jsonl")).expect("the seed journal reads");
        JournalFixture { dir, original }
    }
}

/// Reads `bytes` as a journal, both ways: no panic; every error names the file; `status`'s
/// reader and `resume`'s agree on whether the journal is usable.
fn check_journal(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let file = FreshFile::new(dir, "journal.jsonl", bytes);
    let path = &file.0;
    let shown = path.display().to_string();
    let read = Replay::read(path);
    if let Err(e) = &read {
        prop_assert!(
            e.to_string().contains(&shown),
            "error without the file: {e}"
        );
    }
    // `open_existing` may cut a torn tail off the file: it runs second.
    let opened = Journal::open_existing(path);
    if let Err(e) = &opened {
        prop_assert!(
            e.to_string().contains(&shown),
            "error without the file: {e}"
        );
    }
    match (&read, &opened) {
        (Ok(r), Ok((_, o))) => {
            prop_assert_eq!(r.records(), o.records());
            prop_assert_eq!(r.len(), o.len());
        }
        (Err(_), Err(_)) => {}
        (r, o) => prop_assert!(
            false,
            "status read {:?} but resume opened {:?}",
            r.as_ref().map(|_| "ok").map_err(ToString::to_string),
            o.as_ref().map(|_| "ok").map_err(ToString::to_string)
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2000, 0x6a6f_7572))]

    #[test]
    fn mutated_journals_never_panic_and_errors_name_the_file(ms in mutations()) {
        thread_local!(static JOURNAL: JournalFixture = JournalFixture::new());
        JOURNAL.with(|j| {
            check_journal(j.dir.path(), &mutated(&j.original, &ms))
        })?;
    }

    #[test]
    fn journals_of_arbitrary_bytes_are_refused_naming_the_file(
        bytes in prop::collection::vec(any::<u8>(), 0..200)
    ) {
        thread_local!(static DIR: TempDir = tempfile::tempdir().unwrap());
        DIR.with(|d| check_journal(d.path(), &bytes))?;
    }
}

/// The mutations themselves: each changes what it says, so a property that passes is not
/// passing on untouched inputs.
#[test]
fn mutations_change_their_input() {
    let input = b"a,b\nc,d\ne,f\n".to_vec();
    let cases = [
        Mutation::Truncate { at: any_index(0.5) },
        Mutation::DropLine {
            line: any_index(0.0),
        },
        Mutation::Delete {
            at: any_index(0.0),
            len: 2,
        },
        Mutation::InsertToken {
            at: any_index(0.0),
            token: any_index(0.0),
        },
    ];
    for m in &cases {
        assert_ne!(mutated(&input, std::slice::from_ref(m)), input, "{m:?}");
    }
    assert_eq!(
        mutated(
            &input,
            &[Mutation::SwapLines {
                a: any_index(0.0),
                b: any_index(0.99),
            }]
        ),
        b"e,f\nc,d\na,b\n"
    );
}

/// An `Index` that lands at `fraction` of whatever size it is scaled to.
fn any_index(fraction: f64) -> Index {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    // `Index` has no public constructor; draw until one lands close enough.
    let mut runner = TestRunner::deterministic();
    loop {
        let idx = any::<Index>().new_tree(&mut runner).unwrap().current();
        let got = idx.index(1000) as f64 / 1000.0;
        if (got - fraction).abs() < 0.01 {
            return idx;
        }
    }
}
