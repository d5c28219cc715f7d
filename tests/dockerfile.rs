//! The Dockerfile and its `.dockerignore`, checked without a container engine (none runs
//! where the tests do; `.ci/run` also lints the Dockerfile with hadolint): every `COPY`
//! source exists and is in the build context; the context keeps every file cargo builds
//! the binary from and leaves out `target/`, the tests, the benchmarks and anything that
//! names principals; and a test target Cargo.toml declares by name, whose file the context
//! leaves out, is stood in for before the build, since cargo refuses a manifest whose
//! declared target has no file.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Dockerfile's instructions, one string each: comments dropped, continued lines
/// joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The sources of every `COPY` from the build context (not `--from` another stage).
fn copy_sources(dockerfile: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for instruction in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("COPY")) {
            continue;
        }
        let args: Vec<&str> = words.collect();
        if args.iter().any(|a| a.starts_with("--from")) {
            continue;
        }
        let paths: Vec<&str> = args.into_iter().filter(|a| !a.starts_with("--")).collect();
        assert!(paths.len() >= 2, "COPY without a source: {instruction}");
        sources.extend(paths[..paths.len() - 1].iter().map(|s| s.to_string()));
    }
    sources
}

/// `.dockerignore`'s rules, in order: (pattern components, whether it is an exception).
fn ignore_rules() -> Vec<(Vec<String>, bool)> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (pattern, keep) = match l.strip_prefix('!') {
                Some(p) => (p, true),
                None => (l, false),
            };
            let parts = pattern
                .trim_start_matches('/')
                .trim_end_matches('/')
                .split('/')
                .map(str::to_string)
                .collect();
            (parts, keep)
        })
        .collect()
}

/// `*` and `?` within one path component, as Go's `filepath.Match` (which Docker uses).
fn component_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            component_matches(&pattern[1..], name)
                || (!name.is_empty() && component_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => component_matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => component_matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Whether `pattern` matches `path` or a directory above it; `**` is any number of
/// components.
fn rule_matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        // The pattern named a directory above the path: everything in it is matched.
        None => true,
        Some(p) if p == "**" => {
            (0..=path.len()).any(|skip| rule_matches(&pattern[1..], &path[skip..]))
        }
        Some(p) => {
            !path.is_empty()
                && component_matches(p.as_bytes(), path[0].as_bytes())
                && rule_matches(&pattern[1..], &path[1..])
        }
    }
}

/// Whether the build context leaves `path` (relative to the repository) out: the last
/// rule that matches decides, as Docker reads the file.
fn left_out(rules: &[(Vec<String>, bool)], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    rules
        .iter()
        .rev()
        .find(|(pattern, _)| rule_matches(pattern, &parts))
        .is_some_and(|(_, keep)| !keep)
}

/// Every file under `dir` (relative to the repository), recursively.
fn files_under(dir: &Path, out: &mut Vec<String>) {
    let full = root().join(dir);
    if full.is_file() {
        out.push(dir.to_string_lossy().into_owned());
        return;
    }
    for entry in std::fs::read_dir(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display())) {
        let entry = entry.unwrap();
        files_under(&dir.join(entry.file_name()), out);
    }
}

#[test]
fn every_copy_source_exists_and_is_in_the_context() {
    let rules = ignore_rules();
    let sources = copy_sources(&read("Dockerfile"));
    for want in ["Cargo.toml", "Cargo.lock", "src", "crates"] {
        assert!(sources.iter().any(|s| s == want), "{want} is not copied");
    }
    for source in &sources {
        let source = source.trim_start_matches("./").trim_end_matches('/');
        assert!(
            root().join(source).exists(),
            "COPY {source}: no such file in the repository"
        );
        assert!(
            !left_out(&rules, source),
            "COPY {source}: .dockerignore leaves it out of the context"
        );
    }
}

#[test]
fn the_context_keeps_what_the_build_needs() {
    let rules = ignore_rules();
    let mut files = Vec::new();
    for dir in ["src", "crates/handover-sim/src"] {
        files_under(Path::new(dir), &mut files);
    }
    files
        .extend(["Cargo.toml", "Cargo.lock", "crates/handover-sim/Cargo.toml"].map(str::to_string));
    assert!(files.len() > 20, "{files:?}");
    for file in &files {
        assert!(!left_out(&rules, file), "{file} is left out of the context");
    }
}

#[test]
fn the_context_leaves_out_builds_tests_benchmarks_and_run_files() {
    let rules = ignore_rules();
    for path in [
        "target/release/handover",
        "target/debug/deps/x.rlib",
        "tests/cli_help.rs",
        "tests/data/x.csv",
        "crates/handover-sim/tests/sim.rs",
        "bench/scale.sh",
        "BENCHMARKS.md",
        ".git/HEAD",
        ".venv/bin/python",
        "alice.plan.jsonl",
        "runs/alice.plan.journal.jsonl",
        "runs/alice.plan.journal.report.csv",
        "drconfig.yaml",
    ] {
        assert!(left_out(&rules, path), "{path} would be sent to the build");
    }
}

/// Cargo reads the file of every target a manifest declares by name (`[[test]]`) before it
/// builds anything, and the context leaves the tests out: the Dockerfile must stand in for
/// each such file, or the image does not build.
#[test]
fn every_declared_test_target_left_out_is_stood_in_for() {
    let rules = ignore_rules();
    let dockerfile = read("Dockerfile");
    let manifest = read("Cargo.toml");
    let mut declared = Vec::new();
    let mut in_test = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
        } else if in_test && let Some(name) = line.strip_prefix("name = ") {
            declared.push(format!("tests/{}.rs", name.trim_matches('"')));
        }
    }
    assert!(
        declared.iter().any(|d| d == "tests/html_render.rs"),
        "{declared:?}"
    );
    for file in declared {
        if left_out(&rules, &file) {
            assert!(
                dockerfile.contains(&format!("> {file}")),
                "Cargo.toml declares {file}, which the context leaves out, and the \
                 Dockerfile does not stand in for it"
            );
        }
    }
}

#[test]
fn the_matcher_reads_patterns_as_docker_does() {
    let rules = |text: &str| -> Vec<(Vec<String>, bool)> {
        text.lines()
            .map(|l| match l.strip_prefix('!') {
                Some(p) => (p.split('/').map(str::to_string).collect(), true),
                None => (l.split('/').map(str::to_string).collect(), false),
            })
            .collect()
    };
    let r = rules("*.md\n**/*.jsonl\ncrates/*/tests\ndocs\n!docs/keep.txt");
    assert!(left_out(&r, "README.md"));
    assert!(
        !left_out(&r, "src/README.md"),
        "`*.md` is anchored at the root"
    );
    assert!(left_out(&r, "a.jsonl") && left_out(&r, "a/b/c.jsonl"));
    assert!(left_out(&r, "crates/sim/tests/x.rs"));
    assert!(!left_out(&r, "crates/sim/src/x.rs"));
    assert!(left_out(&r, "docs/a.txt"));
    assert!(!left_out(&r, "docs/keep.txt"), "a later exception wins");
    assert!(!left_out(&r, "src/main.rs"));
}
