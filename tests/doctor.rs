//! `handover doctor` against the in-process simulator (issue 14): on the default simulator
//! every line holds (but the few that cannot be checked without a write, or a route the
//! simulator does not serve); each variant knob flipped turns exactly its line(s) to
//! `differs`; the run sends no write and stays under its budget; its report carries no
//! id, name, username, URL or token; bad input is one line and the right exit code.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet};

use exec_support::{World, handover_cmd, run_to_end, text, world};
use handover::exit;
use handover::model::{EntityKind, Role, RoleVocabKind};
use handover::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, RateLimit, Seed, SeedGrant, SimConfig,
    default_token,
};

/// The uniform world with a group or organization entry on every access list (sharedRoles
/// reads carry them always, accessControl reads only with the knob) and half of the
/// data sources and stores connector-based; no unknown role names.
fn seed() -> Seed {
    let mut spec = GenSpec::uniform(14, 5);
    spec.principal_ratio = 1.0;
    spec.connector_ratio = 0.5;
    Seed::generate(&spec)
}

/// The lines that cannot hold on the simulator, and why: a route it does not serve, and
/// what only a write could show.
const UNKNOWN_BY_DESIGN: [&str; 3] = [
    "users.org_route",
    "share.calendar_status",
    "share.inactive_revoke",
];

/// The writable kinds of contract §12.1 on classic routes (with a trailing slash).
const CLASSIC_NEW: [EntityKind; 9] = [
    EntityKind::Application,
    EntityKind::CustomApplication,
    EntityKind::CustomApplicationSource,
    EntityKind::CustomJob,
    EntityKind::SecureConfig,
    EntityKind::NotificationChannelTemplate,
    EntityKind::NotificationPolicyTemplate,
    EntityKind::ComplianceDocTemplate,
    EntityKind::ValueTracker,
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    /// id → status, from the table.
    lines: BTreeMap<String, String>,
}

async fn doctor_as(w: &World, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["doctor", "--rate", "10000"];
    all.extend_from_slice(args);
    let mut cmd = handover_cmd(w, &all);
    cmd.env("DATAROBOT_API_TOKEN", token);
    let out = run_to_end(cmd).await;
    let stdout = text(&out.stdout);
    let lines = stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("every ") && !l.contains("assumption(s) differ"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr: text(&out.stderr),
        lines,
    }
}

async fn doctor(w: &World, args: &[&str]) -> Run {
    doctor_as(w, DEFAULT_ADMIN_TOKEN, args).await
}

/// The ids whose status differs between two runs.
fn changed(a: &Run, b: &Run) -> BTreeSet<String> {
    assert_eq!(
        a.lines.keys().collect::<Vec<_>>(),
        b.lines.keys().collect::<Vec<_>>(),
        "the same lines in both runs"
    );
    a.lines
        .iter()
        .filter(|(id, status)| b.lines.get(*id) != Some(*status))
        .map(|(id, _)| id.clone())
        .collect()
}

fn ids(kinds: &[EntityKind], line: &str) -> BTreeSet<String> {
    kinds
        .iter()
        .map(|k| format!("{}.{}", k.as_str(), line))
        .collect()
}

/// Runs doctor with `config` set, after a baseline run on the default config, and returns
/// the lines that changed; every one of them now differs.
async fn flip(config: SimConfig) -> (BTreeSet<String>, Run) {
    flip_in(seed(), config).await
}

/// [`flip`] on another world.
async fn flip_in(seed: Seed, config: SimConfig) -> (BTreeSet<String>, Run) {
    let w = world(seed);
    let base = doctor(&w, &[]).await;
    assert_eq!(base.code, exit::OK, "{}{}", base.stdout, base.stderr);
    w.sim.set_config(config);
    let run = doctor(&w, &[]).await;
    assert_eq!(run.code, exit::DIFFERS, "{}{}", run.stdout, run.stderr);
    let changed = changed(&base, &run);
    for id in &changed {
        assert_eq!(run.lines[id], "differs", "{id}\n{}", run.stdout);
    }
    (changed, run)
}

fn prefixed(prefix: &str, set: BTreeSet<String>) -> BTreeSet<String> {
    set.into_iter().map(|s| format!("{prefix}.{s}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_default_simulator_every_line_holds_and_nothing_is_written() {
    let w = world(seed());
    let run = doctor(&w, &[]).await;
    assert_eq!(run.code, exit::OK, "{}{}", run.stdout, run.stderr);
    // 7 connection and user lines, 27 kinds × 7 lines, a visibility line for each of the
    // 14 kinds of contract §12, 5 variant lines, visibility, two write lines, two pace
    // lines.
    assert_eq!(
        run.lines.len(),
        7 + 27 * 7 + 14 + 5 + 1 + 2 + 2,
        "{}",
        run.stdout
    );
    for (id, status) in &run.lines {
        let want = if UNKNOWN_BY_DESIGN.contains(&id.as_str()) {
            "unknown"
        } else {
            "holds"
        };
        assert_eq!(status, want, "{id}\n{}", run.stdout);
    }
    assert!(run.stdout.contains("every checked assumption holds"));
    // The variants were seen to change what is listed.
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert!(
        !line("list.data_store.type_all").contains(" 0 more"),
        "{}",
        line("list.data_store.type_all")
    );
    assert!(!line("list.use_case.show_org").contains(" 0 more"));
    let stats = w.sim.stats();
    assert_eq!(stats.total_writes(), 0);
    assert!(stats.write_attempts.is_empty());
    for route in stats.by_route.keys() {
        assert!(route.starts_with("GET "), "{route}");
    }
    assert!(stats.requests <= 400, "{}", stats.requests);
    assert!(stats.requests >= 40, "{}", stats.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_role_vocabulary_changes_the_roles_lines_only() {
    let (changed, _) = flip(SimConfig {
        role_vocab: RoleVocabKind::Generic.into(),
        ..SimConfig::default()
    })
    .await;
    // Calendars speak READ_WRITE/READ_ONLY anyway; datasets, files, deployments and user
    // blueprints keep their closed role sets; the Workload API's one enum has every
    // alias, and read-only kinds are never written.
    use EntityKind::*;
    let want = prefixed(
        "acl",
        ids(
            &[
                Project,
                DataSource,
                DataStore,
                UseCase,
                RegisteredModel,
                CustomModel,
                CustomTask,
                ExecutionEnvironment,
            ],
            "roles",
        ),
    );
    let want: BTreeSet<String> = want
        .into_iter()
        .chain(prefixed("acl", ids(&CLASSIC_NEW, "roles")))
        .collect();
    assert_eq!(changed, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_list_page_cap_changes_the_list_paging_lines_only() {
    let (changed, run) = flip(SimConfig {
        list_page_default: 3,
        list_page_max: 3,
        ..SimConfig::default()
    })
    .await;
    // Projects, data sources and data stores do not page with `next`.
    let paginated: Vec<EntityKind> = EntityKind::ALL
        .into_iter()
        .filter(|k| {
            !matches!(
                k,
                EntityKind::Project | EntityKind::DataSource | EntityKind::DataStore
            )
        })
        .collect();
    assert_eq!(changed, prefixed("list", ids(&paginated, "paging")));
    assert!(run.stdout.contains("the server caps pages at 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_access_list_page_cap_changes_the_acl_paging_lines_only() {
    let (changed, _) = flip(SimConfig {
        acl_page_default: 1,
        acl_page_max: 1,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(changed, prefixed("acl", ids(&EntityKind::ALL, "paging")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_entries_in_access_control_reads_change_the_recipient_lines_only() {
    let (changed, run) = flip(SimConfig {
        access_control_principals: true,
        ..SimConfig::default()
    })
    .await;
    use EntityKind::*;
    let want = prefixed(
        "acl",
        ids(
            &[
                Project,
                DataSource,
                Calendar,
                CustomModel,
                CustomTask,
                ExecutionEnvironment,
            ],
            "recipients",
        ),
    );
    assert_eq!(changed, want, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_changes_the_rate_limit_line_only() {
    let (changed, run) = flip(SimConfig {
        rate_limit: Some(RateLimit {
            per_second: 200.0,
            burst: 4,
            retry_after_secs: 1,
        }),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(changed, BTreeSet::from(["pace.rate_limit".to_string()]));
    assert!(run.stdout.contains("with Retry-After"), "{}", run.stdout);
}

/// The calendar share status is a write's answer: doctor cannot see it, and says so on
/// every simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calendar_share_status_is_unknown_either_way() {
    let w = world(seed());
    let base = doctor(&w, &[]).await;
    w.sim.set_config(SimConfig {
        calendar_share_status: 200,
        ..SimConfig::default()
    });
    let run = doctor(&w, &[]).await;
    assert!(changed(&base, &run).is_empty());
    assert_eq!(run.lines["share.calendar_status"], "unknown");
    assert_eq!(run.code, exit::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_is_not_an_org_admin_is_told_so() {
    let w = world(seed());
    let base = doctor(&w, &[]).await;
    let run = doctor_as(&w, &default_token(DEPARTING_USERNAME), &[]).await;
    assert_eq!(run.code, exit::DIFFERS, "{}{}", run.stdout, run.stderr);
    let changed = changed(&base, &run);
    for id in ["caller.org_admin", "users.lookup", "visibility.others"] {
        assert!(changed.contains(id), "{id}: {}", run.stdout);
        assert_eq!(run.lines[id], "differs");
    }
    // Nothing else may differ: a member sees fewer use cases with or without the flag,
    // and reads the access lists of what it holds.
    let differs: BTreeSet<&String> = run
        .lines
        .iter()
        .filter(|(_, s)| *s == "differs")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(differs.len(), 3, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_holds_no_id_name_username_url_or_token() {
    let w = world(seed());
    let run = doctor(&w, &["--out", "report.json"]).await;
    assert_eq!(run.code, exit::OK, "{}", run.stderr);
    let report = std::fs::read_to_string(w.path("report.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(v["findings"].as_array().unwrap().len() > 90);
    assert!(v["counts"]["requests"].as_u64().unwrap() > 0);
    assert!(v.get("ids").is_none());
    let state = w.sim.state();
    let mut secrets: Vec<String> = vec![
        w.sim.endpoint(),
        "127.0.0.1".into(),
        DEFAULT_ADMIN_TOKEN.into(),
        "5f0000000000000000000001".into(),
    ];
    for u in &state.users {
        secrets.push(u.id.clone());
        secrets.push(u.username.clone());
    }
    for e in &state.entities {
        secrets.push(e.id.clone());
        if e.name.len() >= 8 {
            secrets.push(e.name.clone());
        }
        for p in &e.principals {
            secrets.push(p.id.clone());
        }
    }
    for s in &secrets {
        assert!(!report.contains(s.as_str()), "{s} in the report");
        assert!(!run.stdout.contains(s.as_str()), "{s} on stdout");
    }
    // --show-ids puts them in, for the admin's own use.
    let run = doctor(&w, &["--out", "ids.json", "--show-ids"]).await;
    assert_eq!(run.code, exit::OK);
    let with_ids = std::fs::read_to_string(w.path("ids.json")).unwrap();
    let admin = state.user(handover::sim::ADMIN_USERNAME).unwrap();
    assert!(with_ids.contains(&admin.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_a_hard_stop_and_the_rest_is_unknown() {
    let w = world(seed());
    let run = doctor(&w, &["--max-requests", "20"]).await;
    assert_eq!(run.code, exit::OK, "{}{}", run.stdout, run.stderr);
    assert!(w.sim.stats().requests <= 20, "{}", w.sim.stats().requests);
    assert!(run.stdout.contains("unknown  budget"), "{}", run.stdout);
    assert_eq!(run.lines["connection"], "holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_report_path_fails_before_the_first_request() {
    let w = world(seed());
    let run = doctor(&w, &["--out", "no/such/dir/report.json"]).await;
    assert_eq!(run.code, exit::INVALID_INPUT, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("handover: error: cannot write"),
        "{}",
        run.stderr
    );
    assert_eq!(w.sim.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_one_line_and_exit_1() {
    let w = world(seed());
    let run = doctor_as(&w, "not-a-token", &[]).await;
    assert_eq!(run.code, exit::FATAL);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-a-token"));
    assert!(run.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_is_one_line_and_exit_1() {
    let w = world(seed());
    let mut cmd = handover_cmd(&w, &["doctor", "--rate", "10000"]);
    // A port nothing listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cmd.env(
        "DATAROBOT_ENDPOINT",
        format!("http://127.0.0.1:{port}/api/v2"),
    );
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(exit::FATAL));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_answers_html_is_one_line_and_exit_1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "<html><body>Welcome</body></html>";
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let w = world(seed());
    let mut cmd = handover_cmd(&w, &["doctor", "--rate", "10000"]);
    cmd.env(
        "DATAROBOT_ENDPOINT",
        format!("http://127.0.0.1:{port}/api/v2"),
    );
    let out = run_to_end(cmd).await;
    assert_eq!(out.status.code(), Some(exit::FATAL));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("not JSON") || stderr.contains("JSON"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_realistic_world_shows_what_the_type_filter_and_org_use_cases_hide() {
    let w = world(Seed::generate(&GenSpec::realistic(14, 5)));
    let run = doctor(&w, &[]).await;
    for id in [
        "list.data_source.type_all",
        "list.data_store.type_all",
        "list.use_case.show_org",
    ] {
        assert_eq!(run.lines[id], "holds", "{}", run.stdout);
        let line = run.stdout.lines().find(|l| l.starts_with(id)).unwrap();
        assert!(!line.contains(" 0 more"), "{line}");
    }
}

/// Latency and prediction traffic are observations, not assumptions: the lines say what
/// was seen and still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_prediction_traffic_are_reported_not_judged() {
    let w = world(seed());
    let base = doctor(&w, &[]).await;
    w.sim.set_config(SimConfig {
        latency_ms: 20,
        prediction_traffic: true,
        ..SimConfig::default()
    });
    let run = doctor(&w, &[]).await;
    assert_eq!(run.code, exit::OK, "{}", run.stdout);
    assert!(changed(&base, &run).is_empty(), "{}", run.stdout);
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    let latency = line("pace.latency");
    let median: u64 = latency
        .split("median ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(median >= 20, "{latency}");
    assert!(
        line("list.deployment.order_by").contains("the default order moved"),
        "{}",
        line("list.deployment.order_by")
    );
}

/// A server whose lists without `type` hold every type (the reading the sources do not
/// give): on a world with connector-based sources and stores, exactly the two type-filter
/// lines change, to `differs` (harmless: handover sends `type=all` anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_filter_that_defaults_to_all_changes_the_type_filter_lines_only() {
    let (changed, run) = flip_in(
        Seed::generate(&GenSpec::realistic(14, 5)),
        SimConfig {
            type_default_all: true,
            ..SimConfig::default()
        },
    )
    .await;
    assert_eq!(
        changed,
        BTreeSet::from([
            "list.data_source.type_all".to_string(),
            "list.data_store.type_all".to_string(),
        ]),
        "{}",
        run.stdout
    );
}

/// The detail of line `id`.
fn detail(run: &Run, id: &str) -> String {
    run.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no line {id}\n{}", run.stdout))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_this_datarobot_lacks_says_its_list_is_not_served() {
    let w = world(seed());
    let base = doctor(&w, &[]).await;
    assert_eq!(base.code, exit::OK, "{}", base.stdout);
    w.sim.set_config(SimConfig {
        absent_lists: vec![EntityKind::CustomJob.into(), EntityKind::Workload.into()],
        ..SimConfig::default()
    });
    let run = doctor(&w, &[]).await;
    assert_eq!(run.code, exit::DIFFERS, "{}", run.stdout);
    for kind in [EntityKind::CustomJob, EntityKind::Workload] {
        let id = format!("list.{}.envelope", kind.as_str());
        assert_eq!(run.lines[&id], "differs", "{}", run.stdout);
        let line = detail(&run, &id);
        assert!(
            line.contains("answered 404") && line.contains("not serve"),
            "{line}"
        );
        // The rest of that kind cannot be checked, and says why.
        for rest in ["list.{}.paging", "acl.{}.read", "list.{}.visibility"] {
            let id = rest.replace("{}", kind.as_str());
            assert_eq!(run.lines[&id], "unknown", "{id}\n{}", run.stdout);
        }
    }
    // Every other kind's lines are as they were.
    for id in changed(&base, &run) {
        assert!(
            id.contains(".custom_job.") || id.contains(".workload."),
            "{id} changed\n{}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_application_and_role_recipients_are_named_and_kept() {
    let w = world(seed());
    let on = doctor(&w, &[]).await;
    assert_eq!(on.code, exit::OK, "{}", on.stdout);
    // The simulator shows them by default (contract §12.1): named, and how they are kept.
    let app = detail(&on, "acl.custom_application.recipients");
    assert!(
        app.contains("externalApplication") && app.contains("never changed"),
        "{app}"
    );
    let workload = detail(&on, "acl.workload.recipients");
    assert!(
        workload.contains("role") && workload.contains("sends them back as read"),
        "{workload}"
    );
    w.sim.set_config(SimConfig {
        extra_recipients: false,
        ..SimConfig::default()
    });
    let off = doctor(&w, &[]).await;
    assert_eq!(off.code, exit::OK, "{}", off.stdout);
    assert!(!detail(&off, "acl.custom_application.recipients").contains("externalApplication"));
    assert!(!detail(&off, "acl.workload.recipients").contains("role"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_observer_role_names_change_the_new_types_roles_lines_only() {
    let (changed, run) = flip(SimConfig {
        observer_role_names: true,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(
        changed,
        prefixed("acl", ids(&CLASSIC_NEW, "roles")),
        "{}",
        run.stdout
    );
    let line = detail(&run, "acl.secure_config.roles");
    assert!(
        line.contains("OBSERVER") && line.contains("aliases"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_shows_an_admin_only_their_own_changes_its_visibility_line_only() {
    // The administrator holds a role on one of each, so that their own list is not empty.
    let mut seed = seed();
    let admin = seed
        .users
        .iter()
        .find(|u| u.org_admin)
        .expect("the world has an administrator")
        .username
        .clone();
    for kind in [EntityKind::SecureConfig, EntityKind::Artifact] {
        let entity = seed
            .entities
            .iter_mut()
            .find(|e| e.kind == kind)
            .expect("the world has one of each kind");
        entity
            .access
            .push(SeedGrant::new(admin.clone(), Role::Consumer));
    }
    let (changed, run) = flip_in(
        seed,
        SimConfig {
            admin_list_own_only: vec![EntityKind::SecureConfig.into(), EntityKind::Artifact.into()],
            ..SimConfig::default()
        },
    )
    .await;
    assert_eq!(
        changed,
        ["list.secure_config.visibility", "list.artifact.visibility"]
            .map(String::from)
            .into(),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_jobs_that_require_offset_and_limit_change_nothing() {
    let w = world(seed());
    w.sim.set_config(SimConfig {
        custom_jobs_require_paging: true,
        ..SimConfig::default()
    });
    let run = doctor(&w, &[]).await;
    // doctor, like every list handover sends, gives both; its variant line says the
    // server requires them (without the knob, it says they are optional).
    assert_eq!(run.code, exit::OK, "{}", run.stdout);
    assert_eq!(run.lines["list.custom_job.envelope"], "holds");
    let line = detail(&run, "list.custom_job.bare_list");
    assert!(line.contains("required here"), "{line}");
    w.sim.set_config(SimConfig::default());
    let run = doctor(&w, &[]).await;
    let line = detail(&run, "list.custom_job.bare_list");
    assert!(line.contains("answers without offset and limit"), "{line}");
}
