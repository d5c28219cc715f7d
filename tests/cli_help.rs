//! The command line's surface: every command and every flag the help shows, the bash
//! completion offers and the man page documents. A move of code that lost a command or a
//! flag fails here, whatever else still passes.

use std::collections::BTreeSet;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_handover"))
        .env_clear()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The long flags a help text lists: the first word of each option line (`-q, --quiet`
/// or `--quiet <N>`).
fn flags(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let short =
                l.len() > 4 && l.starts_with('-') && !l.starts_with("--") && &l[2..4] == ", ";
            let l = if short { &l[4..] } else { l };
            let flag: String = l
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(format!("--{flag}"))
        })
        .collect()
}

const GLOBAL: &[&str] = &[
    "--help",
    "--log-format",
    "--quiet",
    "--verbose",
    "--version",
];
const CONN: &[&str] = &["--allow-insecure-http", "--config", "--endpoint", "--token"];
const PACE: &[&str] = &["--concurrency", "--max-concurrency", "--max-rate", "--rate"];
const RUN: &[&str] = &["--max-errors", "--no-verify", "--notify", "--report"];

/// Every subcommand.
const COMMANDS: &[&str] = &[
    "sim",
    "plan",
    "offboard",
    "demo",
    "apply",
    "resume",
    "status",
    "rollback",
    "verify",
    "doctor",
    "inventory",
    "completions",
    "man",
];

#[test]
fn every_command_is_there() {
    let text = help(&[]);
    for &command in COMMANDS {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from\n{text}"
        );
    }
}

/// A command, the shared flag groups it takes, and its own flags.
type Case = (
    &'static str,
    Vec<&'static [&'static str]>,
    &'static [&'static str],
);

/// Every command with every flag it takes: the global ones, its groups and its own.
fn every_flag() -> Vec<(&'static str, BTreeSet<String>)> {
    let cases: [Case; 13] = [
        (
            "plan",
            vec![CONN, PACE],
            &[
                "--csv",
                "--exclude",
                "--from",
                "--keep-other-access",
                "--map",
                "--old-owner-role",
                "--only-ids",
                "--orphans",
                "--out",
                "--to",
                "--types",
            ],
        ),
        ("apply", vec![CONN, PACE, RUN], &["--journal"]),
        ("resume", vec![CONN, PACE, RUN], &["--journal", "--plan"]),
        (
            "status",
            vec![],
            &["--failed-plan", "--html", "--journal", "--json", "--plan"],
        ),
        (
            "offboard",
            vec![CONN, PACE, RUN],
            &[
                "--exclude",
                "--from",
                "--keep-other-access",
                "--journal",
                "--map",
                "--max-read-age",
                "--old-owner-role",
                "--only-ids",
                "--orphans",
                "--out",
                "--to",
                "--types",
                "--yes",
            ],
        ),
        (
            "verify",
            vec![CONN, PACE],
            &["--journal", "--json", "--user"],
        ),
        (
            "rollback",
            vec![CONN, PACE],
            &["--force", "--journal", "--report", "--rollback-journal"],
        ),
        (
            "inventory",
            vec![CONN, PACE],
            &["--html", "--out", "--types", "--user"],
        ),
        ("demo", vec![PACE], &["--dir", "--per-kind", "--seed"]),
        (
            "doctor",
            vec![CONN],
            &["--max-requests", "--out", "--rate", "--show-ids"],
        ),
        (
            "sim",
            vec![],
            &[
                "--absent-lists",
                "--access-control-principals",
                "--acl-page-default",
                "--acl-page-max",
                "--admin-list-own-only",
                "--admin-token",
                "--calendar-share-status",
                "--capacity",
                "--commit-then-502-rate",
                "--custom-jobs-require-paging",
                "--departed",
                "--departing",
                "--drop-rate",
                "--dump-seed",
                "--extra-ratio",
                "--fault-rate-5xx",
                "--fault-seed",
                "--inactive-revoke",
                "--inactive-revoke-status",
                "--jitter-ms",
                "--kinds",
                "--last-owner-status",
                "--latency-ms",
                "--lenient-workload-bodies",
                "--list-page-default",
                "--list-page-max",
                "--listen",
                "--no-extra-recipients",
                "--observer-role-names",
                "--orphans",
                "--owner-hints-creator-only",
                "--per-kind",
                "--prediction-traffic",
                "--ragged-pages",
                "--rate-limit",
                "--rate-limit-burst",
                "--replace-semantics",
                "--retry-after-secs",
                "--role-vocab",
                "--seed",
                "--seed-file",
                "--type-default-all",
                "--users",
                "--workload-limit-over-max",
                "--world",
            ],
        ),
        ("completions", vec![], &[]),
        ("man", vec![], &[]),
    ];
    cases
        .into_iter()
        .map(|(command, groups, own)| {
            let flags = GLOBAL
                .iter()
                .chain(groups.iter().flat_map(|g| g.iter()))
                .chain(own)
                .map(|f| f.to_string())
                .collect();
            (command, flags)
        })
        .collect()
}

#[test]
fn every_flag_of_every_command_is_there() {
    let all = every_flag();
    assert_eq!(all.len(), COMMANDS.len());
    for (command, want) in all {
        assert_eq!(flags(&help(&[command])), want, "{command}");
    }
}

fn handover(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_handover"))
        .env_clear()
        .args(args)
        .output()
        .unwrap()
}

/// What bash's programmable completion offers for `handover WORDS… CURRENT`: the script
/// `handover completions bash` prints is sourced into a bash, and its function called the
/// way bash calls it on Tab.
fn bash_offers(words: &[&str], current: &str) -> BTreeSet<String> {
    let out = handover(&["completions", "bash"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("handover.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let words: Vec<&str> = std::iter::once("handover")
        .chain(words.iter().copied())
        .chain([current])
        .collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let program = format!(
        "source '{script}'\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT={point}\n\
         _handover handover '{current}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script = script.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        point = line.len(),
        previous = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_completion_offers_every_command() {
    let offered = bash_offers(&[], "");
    for &command in COMMANDS {
        assert!(offered.contains(command), "{command} not in {offered:?}");
    }
    // And after a command, its flags.
    let offered = bash_offers(&["plan"], "--");
    let (_, want) = every_flag()
        .into_iter()
        .find(|(c, _)| *c == "plan")
        .unwrap();
    for flag in &want {
        assert!(offered.contains(flag), "plan {flag} not in {offered:?}");
    }
}

#[test]
fn every_shell_has_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = handover(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("handover"), "{shell}");
        assert!(script.contains("inventory"), "{shell}: no subcommands");
    }
}

#[test]
fn an_unknown_shell_is_bad_input_and_lists_the_shells() {
    let out = handover(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("handover: error: invalid value 'tcsh'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[possible values: bash, elvish, fish, powershell, zsh]"),
        "{stderr}"
    );
}

/// The man page's text with roff's escaped hyphens (`\-`) read back as hyphens.
fn man_page() -> String {
    let out = handover(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie"), "not roff: {page:.200}");
    page.replace("\\-", "-")
}

#[test]
fn the_man_page_names_every_command_and_flag() {
    let page = man_page();
    assert!(page.contains("\n.TH handover 1 "), "{page:.400}");
    // One section per command, and each command's flags within its own section.
    for (command, flags) in every_flag() {
        let heading = format!(".SH \"HANDOVER {}\"\n", command.to_uppercase());
        let start = page
            .find(&heading)
            .unwrap_or_else(|| panic!("no section for {command}"));
        let rest = &page[start + heading.len()..];
        let section = &rest[..rest.find("\n.SH ").unwrap_or(rest.len())];
        for flag in flags {
            assert!(
                section.contains(&format!("\\fB{flag}\\fR")),
                "man page: {command} {flag} is not documented"
            );
        }
    }
}
