//! The command line's surface: every command and every flag the help shows. A move of
//! code that lost a command or a flag fails here, whatever else still passes.

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

#[test]
fn every_command_is_there() {
    let text = help(&[]);
    for command in [
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
    ] {
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

#[test]
fn every_flag_of_every_command_is_there() {
    let cases: [Case; 11] = [
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
    ];
    for (command, groups, own) in cases {
        let want: BTreeSet<String> = GLOBAL
            .iter()
            .chain(groups.iter().flat_map(|g| g.iter()))
            .chain(own)
            .map(|f| f.to_string())
            .collect();
        assert_eq!(flags(&help(&[command])), want, "{command}");
    }
}
