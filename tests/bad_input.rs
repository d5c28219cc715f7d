//! The bad-input corpus: every directory under `tests/data/bad_input/` is one case. Its
//! `case.txt` says how to run the real binary (against a simulator started in this
//! process) and what must come of it: the exit code, the exact first line of stderr (which
//! starts `handover: error:` and names the file, line and field where there is one), other
//! fragments, and that no request reached the simulator. The few cases where a request is
//! sent by design (the input can only be judged by the server: a username, a token, an
//! endpoint path) list the routes they may touch and say why in `why-requests:`.
//!
//! The other files in a case's directory are copied into an empty working directory (which
//! is also the binary's `HOME`) with `{endpoint}` replaced; plans and journals, which name
//! the simulator's port and carry digests, are made by the fixtures below from a plan and
//! journals the binary writes once per run.
//!
//! `case.txt`, one `key: value` per line (`#` lines are comments, kept for the reader):
//!
//! - `run:` the arguments (whitespace-separated, `"…"` groups); placeholders below;
//! - `fixture:` a generated input (see [`fixture`]);
//! - `conn:` `env` (default: `DATAROBOT_ENDPOINT`/`DATAROBOT_API_TOKEN` of the simulator)
//!   or `none`; `env: KEY=VALUE` adds a variable (repeatable);
//! - `exit:` the exit code (README: 2 invalid input, 1 fatal config/auth);
//! - `first:` stderr's first line, exactly (a `*` stands for any text: a JSON column); `contains:` a fragment of stderr; `stdout:` a
//!   fragment of stdout (each repeatable);
//! - `unchanged:` an input file that must be left exactly as it was (repeatable);
//! - `requests:` `0`, or `only ROUTE; ROUTE…` (at least one request, all on these route
//!   templates), with `why-requests:` saying why the server must be asked.
//!
//! Placeholders: `{endpoint}`, `{root}` (the simulator without `/api/v2`), `{token}` (the
//! admin's), `{pid}` (this test process), `{plan_digest}`, `{other_plan_digest}`.
//!
//! `BAD_INPUT_SHOW=1 cargo test --test bad_input` prints what every case produced.

use std::any::Any;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use handover::exit;
use handover::journal::Journal;
use handover::plan::sha256_hex;
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
    SimHandle, Stats,
};
use tempfile::TempDir;

/// Longest a case may run before it counts as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad_input")
}

/// What a case expects of its requests.
#[derive(Debug)]
enum RequestsKind {
    /// Nothing reaches the simulator.
    Zero,
    /// At least one request, every one on these route templates (`GET version/`).
    Only(Vec<String>),
}

/// One parsed `case.txt`.
#[derive(Debug)]
struct Spec {
    name: String,
    dir: PathBuf,
    run: String,
    fixture: Option<String>,
    conn_env: bool,
    env: Vec<(String, String)>,
    exit: i32,
    first: Option<String>,
    contains: Vec<String>,
    stdout: Vec<String>,
    unchanged: Vec<String>,
    requests: RequestsKind,
    why_requests: Option<String>,
}

fn parse_spec(dir: &Path) -> Result<Spec, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let text = fs::read_to_string(dir.join("case.txt"))
        .map_err(|e| format!("{name}: cannot read case.txt: {e}"))?;
    let mut spec = Spec {
        name: name.clone(),
        dir: dir.to_path_buf(),
        run: String::new(),
        fixture: None,
        conn_env: true,
        env: Vec::new(),
        exit: -1,
        first: None,
        contains: Vec::new(),
        stdout: Vec::new(),
        unchanged: Vec::new(),
        requests: RequestsKind::Zero,
        why_requests: None,
    };
    let mut saw_requests = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("{name}/case.txt:{}: no `key:`", i + 1));
        };
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match key {
            "run" => spec.run = value,
            "fixture" => spec.fixture = Some(value),
            "conn" => {
                spec.conn_env = match value.as_str() {
                    "env" => true,
                    "none" => false,
                    other => return Err(format!("{name}: conn {other:?}")),
                }
            }
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("{name}: env without ="))?;
                spec.env.push((k.to_string(), v.to_string()));
            }
            "exit" => {
                spec.exit = value
                    .parse()
                    .map_err(|_| format!("{name}: exit {value:?}"))?
            }
            "first" => spec.first = Some(value),
            "contains" => spec.contains.push(value),
            "stdout" => spec.stdout.push(value),
            "unchanged" => spec.unchanged.push(value),
            "requests" => {
                saw_requests = true;
                spec.requests = if value == "0" {
                    RequestsKind::Zero
                } else if let Some(routes) = value.strip_prefix("only ") {
                    RequestsKind::Only(routes.split(';').map(|r| r.trim().to_string()).collect())
                } else {
                    return Err(format!("{name}: requests {value:?}"));
                };
            }
            "why-requests" => spec.why_requests = Some(value),
            other => return Err(format!("{name}/case.txt:{}: unknown key {other:?}", i + 1)),
        }
    }
    if spec.run.is_empty() || spec.exit < 0 || !saw_requests {
        return Err(format!("{name}: run, exit and requests are required"));
    }
    if spec.exit != 0 && spec.first.is_none() {
        return Err(format!("{name}: a failing case needs `first:`"));
    }
    if matches!(spec.requests, RequestsKind::Only(_)) && spec.why_requests.is_none() {
        return Err(format!("{name}: requests sent, but no why-requests"));
    }
    Ok(spec)
}

fn all_specs() -> Vec<Spec> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let (specs, errors): (Vec<_>, Vec<_>) =
        dirs.iter().map(|d| parse_spec(d)).partition(Result::is_ok);
    let errors: Vec<String> = errors.into_iter().map(Result::unwrap_err).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    specs.into_iter().map(Result::unwrap).collect()
}

/// Splits a `run:` line on whitespace; `"…"` keeps spaces (no escapes).
fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The simulator, on a runtime of its own (the test thread blocks on the binary), and what
/// every fixture starts from.
struct World {
    sim: SimHandle,
    _runtime: tokio::runtime::Runtime,
    base: Base,
}

/// A plan of everything the departing user owns (25 entries, one of each writable kind), a second plan of their
/// projects only, and a finished journal of each, all written by the binary.
struct Base {
    _dir: TempDir,
    plan: Vec<u8>,
    plan_csv: Vec<u8>,
    journal: Vec<u8>,
    other_plan_journal: Vec<u8>,
    plan_digest: String,
    other_plan_digest: String,
}

fn handover(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handover"));
    cmd.env_clear()
        .env("HOME", dir)
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

fn run_ok(dir: &Path, endpoint: &str, args: &[&str]) {
    let out = handover(dir)
        .env("DATAROBOT_ENDPOINT", endpoint)
        .env("DATAROBOT_API_TOKEN", DEFAULT_ADMIN_TOKEN)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(exit::OK),
        "setup {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `sha256:…` of a plan's trailer.
fn trailer_digest(plan: &[u8]) -> String {
    let text = String::from_utf8_lossy(plan);
    let trailer: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    trailer["digest"].as_str().unwrap().to_string()
}

fn world() -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = {
        let _guard = runtime.enter();
        Sim::start(
            "127.0.0.1:0".parse().unwrap(),
            Seed::generate(&GenSpec::uniform(41, 1)),
            SimConfig::default(),
        )
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let endpoint = sim.endpoint();
    let who = ["--from", DEPARTING_USERNAME, "--to", SUCCESSOR_USERNAME];
    let fast = ["--rate", "2000", "-q"];
    run_ok(
        d,
        &endpoint,
        &[&["plan", "--out", "plan.jsonl"][..], &who, &fast].concat(),
    );
    run_ok(
        d,
        &endpoint,
        &[
            &["plan", "--out", "other.jsonl", "--types", "project"][..],
            &who,
            &fast,
        ]
        .concat(),
    );
    // The narrower plan first, so that both runs have something to change.
    run_ok(
        d,
        &endpoint,
        &[&["apply", "other.jsonl"][..], &fast].concat(),
    );
    run_ok(
        d,
        &endpoint,
        &[&["apply", "plan.jsonl"][..], &fast].concat(),
    );
    let read = |name: &str| fs::read(d.join(name)).unwrap();
    let plan = read("plan.jsonl");
    let other = read("other.jsonl");
    let base = Base {
        plan_digest: trailer_digest(&plan),
        other_plan_digest: trailer_digest(&other),
        plan_csv: read("plan.csv"),
        journal: read("plan.journal.jsonl"),
        other_plan_journal: read("other.journal.jsonl"),
        plan,
        _dir: dir,
    };
    World {
        sim,
        _runtime: runtime,
        base,
    }
}

/// The lines of a file, each without its `\n`.
fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A plan from a header and entries, with a trailer that matches them: what a plan edited
/// by someone who knew to fix the digest looks like.
fn with_fresh_trailer(header_and_entries: &[String]) -> Vec<u8> {
    let mut body = String::new();
    for line in header_and_entries {
        body.push_str(line);
        body.push('\n');
    }
    let digest = sha256_hex(body.as_bytes());
    let trailer = serde_json::json!({
        "type": "end",
        "entries": header_and_entries.len() - 1,
        "digest": digest,
    });
    format!("{body}{trailer}\n").into_bytes()
}

/// Writes a case's generated inputs into `dir`; what it returns lives until the case ran.
fn fixture(name: &str, base: &Base, dir: &Path) -> Option<Box<dyn Any>> {
    let write = |file: &str, bytes: &[u8]| fs::write(dir.join(file), bytes).unwrap();
    let plan = lines_of(&base.plan);
    let journal = lines_of(&base.journal);
    let joined = |lines: &[String]| {
        let mut s = lines.join("\n");
        s.push('\n');
        s.into_bytes()
    };
    match name {
        "plan" => write("plan.jsonl", &base.plan),
        "plan_review_csv" => write("plan.csv", &base.plan_csv),
        "plan_edited_entry" => {
            let mut lines = plan;
            let entry = &mut lines[2];
            let edited = entry.replacen("\"name\":\"", "\"name\":\"edited ", 1);
            assert_ne!(*entry, edited);
            *entry = edited;
            write("plan.jsonl", &joined(&lines));
        }
        "plan_truncated" => write("plan.jsonl", &joined(&plan[..plan.len() - 1])),
        "plan_truncated_mid_line" => {
            let keep = plan[0].len() + 1 + plan[1].len() + 1 + plan[2].len() / 2;
            write("plan.jsonl", &base.plan[..keep]);
        }
        "plan_entry_removed" => {
            let mut lines = plan;
            lines.remove(2);
            write("plan.jsonl", &joined(&lines));
        }
        "plan_other_endpoint" => {
            let mut lines = plan;
            lines.pop();
            let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
            header["endpoint"] = "https://other.example.com/api/v2".into();
            lines[0] = header.to_string();
            write("plan.jsonl", &with_fresh_trailer(&lines));
        }
        "plan_wrong_version" => {
            let mut lines = plan;
            let edited = lines[0].replacen("\"version\":1,", "\"version\":99,", 1);
            assert_ne!(lines[0], edited);
            lines[0] = edited;
            write("plan.jsonl", &joined(&lines));
        }
        "plan_bad_role" => {
            let mut lines = plan;
            lines.pop();
            let edited = lines[2].replacen("\"role\":\"OWNER\"", "\"role\":\"BOSS\"", 1);
            assert_ne!(lines[2], edited);
            lines[2] = edited;
            write("plan.jsonl", &with_fresh_trailer(&lines));
        }
        "journal" => {
            write("plan.jsonl", &base.plan);
            write("journal.jsonl", &base.journal);
        }
        "journal_torn_tail" => {
            write("plan.jsonl", &base.plan);
            let mut bytes = base.journal.clone();
            bytes.extend_from_slice(br#"{"type":"outcome","kind":"proj"#);
            write("journal.jsonl", &bytes);
        }
        "journal_corrupt_middle" => {
            write("plan.jsonl", &base.plan);
            let mut lines = journal;
            lines[2] = r#"{"type":"outcome","kind":"project","id":"#.to_string();
            write("journal.jsonl", &joined(&lines));
        }
        "journal_other_plan" => {
            write("plan.jsonl", &base.plan);
            write("journal.jsonl", &base.other_plan_journal);
        }
        "journal_wrong_version" => {
            write("plan.jsonl", &base.plan);
            let mut lines = journal;
            let edited = lines[0].replacen("\"version\":1,", "\"version\":7,", 1);
            assert_ne!(lines[0], edited);
            lines[0] = edited;
            write("journal.jsonl", &joined(&lines));
        }
        "journal_locked" => {
            write("plan.jsonl", &base.plan);
            write("journal.jsonl", &base.journal);
            // Held as a running apply holds it, until the case has run.
            let held = Journal::open_existing(dir.join("journal.jsonl")).unwrap();
            return Some(Box::new(held));
        }
        other => panic!("unknown fixture {other:?}"),
    }
    None
}

/// The placeholders of `case.txt` and input files.
fn substitute(text: &str, w: &World) -> String {
    text.replace("{endpoint}", &w.sim.endpoint())
        .replace("{root}", &w.sim.root())
        .replace("{token}", DEFAULT_ADMIN_TOKEN)
        .replace("{pid}", &std::process::id().to_string())
        .replace("{plan_digest}", &w.base.plan_digest)
        .replace("{other_plan_digest}", &w.base.other_plan_digest)
}

/// Copies a case's input files (all but `case.txt`), placeholders replaced in text files.
fn copy_inputs(spec: &Spec, w: &World, to: &Path) {
    for entry in fs::read_dir(&spec.dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == "case.txt" {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        let bytes = match String::from_utf8(bytes) {
            Ok(text) => substitute(&text, w).into_bytes(),
            Err(e) => e.into_bytes(),
        };
        fs::write(to.join(name), bytes).unwrap();
    }
}

/// Runs the binary, killing it if it outlives [`CASE_TIMEOUT`].
fn output_with_timeout(mut cmd: Command) -> Result<Output, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + CASE_TIMEOUT;
    // The pipes are small; read them on threads so a chatty child cannot block.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).unwrap();
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).unwrap();
        buf
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(Output {
                status,
                stdout: out_reader.join().unwrap(),
                stderr: err_reader.join().unwrap(),
            });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {CASE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `text` is `pattern`, where each `*` in the pattern stands for any text.
fn matches_pattern(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return text == pattern;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Requests per route template between two snapshots of the stats.
fn routes_between(before: &Stats, after: &Stats) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (route, outcomes) in &after.by_route {
        let now: u64 = outcomes.values().sum();
        let then: u64 = before.by_route.get(route).map_or(0, |o| o.values().sum());
        if now > then {
            out.insert(route.clone(), now - then);
        }
    }
    out
}

/// Runs one case; `Err` says everything that was not as expected.
fn run_case(spec: &Spec, w: &World) -> Result<(), String> {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    copy_inputs(spec, w, dir);
    let _held = spec
        .fixture
        .as_deref()
        .and_then(|name| fixture(name, &w.base, dir));

    let mut cmd = handover(dir);
    if spec.conn_env {
        cmd.env("DATAROBOT_ENDPOINT", w.sim.endpoint())
            .env("DATAROBOT_API_TOKEN", DEFAULT_ADMIN_TOKEN);
    }
    for (k, v) in &spec.env {
        cmd.env(k, substitute(v, w));
    }
    let args = split_args(&substitute(&spec.run, w));
    cmd.args(&args);

    let before = w.sim.stats();
    let out = output_with_timeout(cmd)?;
    let after = w.sim.stats();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let routes = routes_between(&before, &after);
    if std::env::var_os("BAD_INPUT_SHOW").is_some() {
        eprintln!(
            "--- {} (exit {:?}, requests {routes:?})\n{stderr}{}",
            spec.name,
            out.status.code(),
            stdout.lines().take(3).collect::<Vec<_>>().join("\n")
        );
    }

    let mut problems = Vec::new();
    for name in &spec.unchanged {
        let now = fs::read(dir.join(name)).unwrap_or_default();
        if now != fs::read(spec.dir.join(name)).unwrap() {
            problems.push(format!("{name} was changed or removed"));
        }
    }
    if out.status.code() != Some(spec.exit) {
        problems.push(format!(
            "exit {:?}, expected {}",
            out.status.code(),
            spec.exit
        ));
    }
    if stderr.contains("panicked") {
        problems.push("the binary panicked".to_string());
    }
    if let Some(first) = &spec.first {
        let first = substitute(first, w);
        let actual = stderr.lines().next().unwrap_or("");
        if !actual.starts_with("handover: error: ") {
            problems.push("stderr does not start with `handover: error: `".to_string());
        }
        if !matches_pattern(actual, &first) {
            problems.push(format!(
                "first line\n    actual:   {actual:?}\n    expected: {first:?}"
            ));
        }
    }
    for fragment in &spec.contains {
        let fragment = substitute(fragment, w);
        if !stderr.contains(&fragment) {
            problems.push(format!("stderr lacks {fragment:?}"));
        }
    }
    for fragment in &spec.stdout {
        let fragment = substitute(fragment, w);
        if !stdout.contains(&fragment) {
            problems.push(format!("stdout lacks {fragment:?}"));
        }
    }
    match &spec.requests {
        RequestsKind::Zero => {
            if after.requests != before.requests {
                problems.push(format!(
                    "{} requests reached the simulator: {routes:?}",
                    after.requests - before.requests
                ));
            }
        }
        RequestsKind::Only(allowed) => {
            if routes.is_empty() {
                problems.push("no request reached the simulator".to_string());
            }
            for route in routes.keys().filter(|r| !allowed.contains(r)) {
                problems.push(format!("a request on {route}, not in {allowed:?}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  {}\n  stderr: {stderr:?}",
            spec.name,
            problems.join("\n  ")
        ))
    }
}

#[test]
fn every_bad_input_fails_in_one_line_with_its_exit_code_and_sends_nothing() {
    let specs = all_specs();
    let w = world();
    let failures: Vec<String> = specs
        .iter()
        .filter_map(|spec| run_case(spec, &w).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        specs.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_covers_every_kind_of_input() {
    let specs = all_specs();
    assert!(specs.len() >= 40, "only {} cases", specs.len());
    for group in ["csv_", "map_", "plan_", "journal_", "config_", "flag_"] {
        let n = specs.iter().filter(|s| s.name.starts_with(group)).count();
        assert!(n >= 3, "only {n} {group}* cases");
    }
    // Cases that send a request are the exception, each with its reason.
    let sending: Vec<&str> = specs
        .iter()
        .filter(|s| matches!(s.requests, RequestsKind::Only(_)))
        .map(|s| s.name.as_str())
        .collect();
    assert!(sending.len() * 5 < specs.len(), "{sending:?}");
}

#[test]
fn patterns_match_with_stars_only() {
    assert!(matches_pattern("a (column 12)", "a (column *)"));
    assert!(matches_pattern("same", "same"));
    assert!(!matches_pattern("same.", "same"));
    assert!(!matches_pattern("a (column 12", "a (column *)"));
    assert!(matches_pattern("x1y2z", "x*y*z"));
    assert!(!matches_pattern("xz", "x*y*z"));
}

#[test]
fn split_args_keeps_quoted_spaces() {
    assert_eq!(
        split_args(r#"plan --endpoint "not a url"  --to x"#),
        ["plan", "--endpoint", "not a url", "--to", "x"]
    );
    assert_eq!(split_args(r#"a "" b"#), ["a", "", "b"]);
}
