//! Secrets and transport, through the real binary.
//!
//! **The token never leaks.** The simulator's admin gets a distinctive token, and every
//! command that talks to DataRobot (plan, plan --csv, apply, status, status --html,
//! resume, verify, rollback, offboard) runs at `-vvv` with `HANDOVER_LOG=trace`, in text
//! and in JSON logs, with the token from the environment, the `--token` flag and a config
//! file; so do the
//! failing paths: an endpoint nobody listens on, a token the server refuses, and a server
//! that fails half its requests (so that retries are logged). The token must appear in no
//! stdout, no stderr and no file handover wrote; plans, journals and reports are created
//! readable by their owner only (0600).
//!
//! **TLS is verified.** The simulator serves HTTPS with a certificate made here with
//! rcgen: `plan` refuses it by default (exit 1, one line naming the certificate problem)
//! and accepts it when a config file's `ssl_verify` names it as the CA bundle.
//!
//! **Plain HTTP to a host that is not loopback is refused before any connection.** Proxy
//! variables point at the simulator, so that if the check ever regressed the request
//! would reach the simulator (and be counted), never another address.
//!
//! **Loopback never goes through a proxy** (issue 20, item 4): plain http to loopback is
//! allowed because it stays on the host, so a proxy from `HTTP_PROXY` must not carry it
//! (and its token) elsewhere; https endpoints still use `HTTPS_PROXY` and `NO_PROXY`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use handover::exit;
use handover::sim::{
    ADMIN_USERNAME, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
    SimHandle,
};
use tempfile::TempDir;

/// The admin's token in these tests: distinctive enough that any trace of it is found.
const TOKEN: &str = "TOKEN-c0ffee-4242-SECRET";

/// Fragments that must not appear either (a token cut, or quoted in pieces).
const FRAGMENTS: [&str; 3] = [TOKEN, "c0ffee-4242", "4242-SECRET"];

/// The inputs this test writes itself (the config file holds the token on purpose).
const INPUTS: [&str; 2] = ["dr.yaml", "change.csv"];

/// A seed whose admin logs in with [`TOKEN`].
fn seed(per_kind: usize) -> Seed {
    let mut seed = Seed::generate(&GenSpec::uniform(77, per_kind));
    let admin = seed
        .users
        .iter_mut()
        .find(|u| u.username == ADMIN_USERNAME)
        .expect("the generated seed has an admin");
    admin.token = TOKEN.to_string();
    seed
}

/// Simulators on a runtime of their own: the test thread blocks on the binary.
struct Sims {
    runtime: tokio::runtime::Runtime,
}

impl Sims {
    fn new() -> Sims {
        Sims {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn start(&self, seed: Seed, config: SimConfig) -> SimHandle {
        let _guard = self.runtime.enter();
        Sim::start("127.0.0.1:0".parse().unwrap(), seed, config).unwrap()
    }

    fn start_tls(&self, seed: Seed, cert_pem: &str, key_pem: &str) -> SimHandle {
        let _guard = self.runtime.enter();
        Sim::start_tls(
            "127.0.0.1:0".parse().unwrap(),
            seed,
            SimConfig::default(),
            cert_pem.as_bytes(),
            key_pem.as_bytes(),
        )
        .unwrap()
    }
}

/// How a run gets its endpoint and token.
#[derive(Clone, Copy, Debug)]
enum Conn {
    /// `DATAROBOT_ENDPOINT` and `DATAROBOT_API_TOKEN`.
    Env,
    /// `--endpoint` and `--token`.
    Flags,
    /// `--config dr.yaml`.
    ConfigFile,
    /// Nothing: the command does not connect.
    None,
}

#[derive(Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn flag(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// One working directory (the binary's `HOME` and current directory) and everything run
/// in it.
struct Session {
    dir: TempDir,
    log: LogFormat,
    runs: Vec<(String, Output)>,
}

impl Session {
    fn new(log: LogFormat) -> Session {
        Session {
            dir: tempfile::tempdir().unwrap(),
            log,
            runs: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `handover -vvv --log-format … ARGS` at trace level; `endpoint` and `token` go
    /// where `conn` says. Returns the output, which is also kept for the leak check.
    fn run(&mut self, conn: Conn, endpoint: &str, token: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handover"));
        cmd.env_clear()
            .env("HOME", self.dir.path())
            .env("HANDOVER_LOG", "trace")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .args(["-vvv", "--log-format", self.log.flag()])
            .args(args);
        match conn {
            Conn::Env => {
                cmd.env("DATAROBOT_ENDPOINT", endpoint)
                    .env("DATAROBOT_API_TOKEN", token);
            }
            Conn::Flags => {
                cmd.args(["--endpoint", endpoint, "--token", token]);
            }
            Conn::ConfigFile => {
                fs::write(
                    self.path("dr.yaml"),
                    format!("endpoint: {endpoint}\ntoken: {token}\n"),
                )
                .unwrap();
                cmd.args(["--config", "dr.yaml"]);
            }
            Conn::None => {}
        }
        let out = cmd.output().unwrap();
        self.runs
            .push((format!("{args:?} ({conn:?})"), out.clone()));
        out
    }

    /// No run printed the token, and no file but the inputs holds it.
    fn assert_no_leak(&self) {
        for (what, out) in &self.runs {
            for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                let text = String::from_utf8_lossy(bytes);
                for fragment in FRAGMENTS {
                    assert!(
                        !text.contains(fragment),
                        "{what}: the token is in {stream}:\n{text}"
                    );
                }
            }
        }
        for path in files_in(self.dir.path()) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if INPUTS.contains(&name.as_str()) {
                continue;
            }
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            for fragment in FRAGMENTS {
                assert!(!text.contains(fragment), "the token is in {name}");
            }
        }
    }

    fn assert_private(&self, names: &[&str]) {
        for name in names {
            let mode = fs::metadata(self.path(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_in(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every command, succeeding, with the token from each of its sources.
fn every_command(log: LogFormat) {
    let sims = Sims::new();
    let sim = sims.start(seed(1), SimConfig::default());
    let endpoint = sim.endpoint();
    let mut s = Session::new(log);
    let who = ["--from", DEPARTING_USERNAME, "--to", SUCCESSOR_USERNAME];

    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[&["plan", "--out", "plan.jsonl", "--rate", "2000"][..], &who].concat(),
    );
    assert_code(&out, exit::OK, "plan");
    // Trace level really is on: the HTTP client's own events are there.
    assert!(text(&out.stderr).contains("hyper"), "{}", text(&out.stderr));
    if matches!(log, LogFormat::Json) {
        let first = text(&out.stderr).lines().next().unwrap().to_string();
        serde_json::from_str::<serde_json::Value>(&first).expect("JSON log lines");
    }

    // A CSV plan, with the token on the command line.
    let project = sim
        .state()
        .entities
        .iter()
        .find(|e| e.kind == handover::model::EntityKind::Project)
        .unwrap()
        .id
        .clone();
    fs::write(
        s.path("change.csv"),
        format!(
            "entity_type,entity_id,username,role\nproject,{project},{SUCCESSOR_USERNAME},EDITOR\n"
        ),
    )
    .unwrap();
    let out = s.run(
        Conn::Flags,
        &endpoint,
        TOKEN,
        &["plan", "--csv", "change.csv", "--out", "csvplan.jsonl"],
    );
    assert_code(&out, exit::OK, "plan --csv");

    // Apply, with the token from a config file.
    let out = s.run(
        Conn::ConfigFile,
        &endpoint,
        TOKEN,
        &["apply", "plan.jsonl", "--rate", "2000"],
    );
    assert_code(&out, exit::OK, "apply");

    let out = s.run(
        Conn::None,
        &endpoint,
        TOKEN,
        &["status", "--journal", "plan.journal.jsonl", "--json"],
    );
    assert_code(&out, exit::OK, "status");
    let out = s.run(
        Conn::None,
        &endpoint,
        TOKEN,
        &[
            "status",
            "--journal",
            "plan.journal.jsonl",
            "--html",
            "status.html",
        ],
    );
    assert_code(&out, exit::OK, "status --html");
    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[
            "resume",
            "--journal",
            "plan.journal.jsonl",
            "--rate",
            "2000",
        ],
    );
    assert_code(&out, exit::OK, "resume");
    let out = s.run(Conn::Flags, &endpoint, TOKEN, &["verify", "plan.jsonl"]);
    assert_code(&out, exit::OK, "verify");
    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[
            "rollback",
            "--journal",
            "plan.journal.jsonl",
            "--rate",
            "2000",
        ],
    );
    assert_code(&out, exit::OK, "rollback");
    let out = s.run(
        Conn::ConfigFile,
        &endpoint,
        TOKEN,
        &[
            &["offboard", "--yes", "--out", "off.jsonl", "--rate", "2000"][..],
            &who,
        ]
        .concat(),
    );
    assert_code(&out, exit::OK, "offboard");
    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[
            "inventory",
            "--out",
            "inventory.csv",
            "--html",
            "inventory.html",
            "--rate",
            "2000",
        ],
    );
    assert_code(&out, exit::OK, "inventory");

    s.assert_no_leak();
    s.assert_private(&[
        "plan.jsonl",
        "plan.csv",
        "csvplan.jsonl",
        "csvplan.csv",
        "plan.journal.jsonl",
        "plan.journal.report.csv",
        "plan.journal.report.json",
        "plan.journal.report.html",
        "status.html",
        "off.jsonl",
        "off.csv",
        "off.journal.jsonl",
        "off.journal.report.csv",
        "off.journal.report.json",
        "off.journal.report.html",
        "inventory.csv",
        "inventory.json",
        "inventory.html",
    ]);
    // The rollback's journal and report, whatever their default names.
    let rollback_files: Vec<PathBuf> = files_in(s.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("rollback"))
        .collect();
    assert!(rollback_files.len() >= 3, "{rollback_files:?}");
    for path in rollback_files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        s.assert_private(&[name.as_str()]);
    }
}

#[test]
fn every_command_at_trace_level_keeps_the_token_out_of_text_logs_and_files() {
    every_command(LogFormat::Text);
}

#[test]
fn every_command_at_trace_level_keeps_the_token_out_of_json_logs_and_files() {
    every_command(LogFormat::Json);
}

#[test]
fn failing_paths_keep_the_token_out_of_errors_and_logs() {
    let sims = Sims::new();
    for log in [LogFormat::Text, LogFormat::Json] {
        let mut s = Session::new(log);
        let plan = [
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            "plan.jsonl",
            "--types",
            "project",
        ];

        // Nobody listens there (port 1 on loopback): connection refused.
        for conn in [Conn::Env, Conn::Flags, Conn::ConfigFile] {
            let out = s.run(conn, "http://127.0.0.1:1/api/v2", TOKEN, &plan);
            assert_code(&out, exit::FATAL, "unreachable");
            assert!(text(&out.stderr).contains("handover: error: "));
        }

        // A server that does not know the token: 401.
        let stranger = sims.start(
            Seed::generate(&GenSpec::uniform(78, 1)),
            SimConfig::default(),
        );
        for conn in [Conn::Env, Conn::Flags, Conn::ConfigFile] {
            let out = s.run(conn, &stranger.endpoint(), TOKEN, &plan);
            assert_code(&out, exit::FATAL, "401");
            assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
        }
        // And with the token in the wrong header scheme, still refused, still unprinted.
        fs::write(
            s.path("dr.yaml"),
            format!(
                "endpoint: {}\ntoken: {TOKEN}\ntoken_type: Bearer\n",
                stranger.endpoint()
            ),
        )
        .unwrap();
        let out = s.run(
            Conn::None,
            "",
            "",
            &[&plan[..], &["--config", "dr.yaml"]].concat(),
        );
        assert_code(&out, exit::FATAL, "401 with Bearer");

        // Half the requests fail with a 5xx or a dropped connection: retries are logged.
        let flaky = sims.start(
            seed(1),
            SimConfig {
                fault_rate_5xx: 0.35,
                drop_rate: 0.1,
                fault_seed: 5,
                ..SimConfig::default()
            },
        );
        let out = s.run(Conn::Env, &flaky.endpoint(), TOKEN, &plan);
        let planned = out.status.code() == Some(exit::OK);
        if planned {
            s.run(
                Conn::Env,
                &flaky.endpoint(),
                TOKEN,
                &["apply", "plan.jsonl", "--rate", "2000"],
            );
        }
        let retried = s
            .runs
            .iter()
            .any(|(_, o)| text(&o.stderr).contains("retrying"));
        assert!(retried, "no retry was logged");
        assert!(flaky.stats().faults.http_5xx > 0);

        s.assert_no_leak();
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

#[test]
fn https_with_an_unknown_certificate_is_refused_unless_its_ca_is_configured() {
    let sims = Sims::new();
    let (cert, key) = self_signed();
    let sim = sims.start_tls(seed(1), &cert, &key);
    let endpoint = sim.endpoint();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let mut s = Session::new(LogFormat::Text);
    let plan = [
        "plan",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
        "--out",
        "plan.jsonl",
        "--types",
        "project",
    ];

    // Verified by default, against the bundled roots: refused, no HTTP request served.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handover"));
    cmd.env_clear()
        .env("HOME", s.dir.path())
        .current_dir(s.dir.path())
        .args(plan)
        .args(["--endpoint", &endpoint, "--token", TOKEN]);
    let out = cmd.output().unwrap();
    assert_code(&out, exit::FATAL, "untrusted certificate");
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap();
    assert!(first.starts_with("handover: error: "), "{stderr}");
    assert!(
        first.contains("invalid peer certificate: UnknownIssuer"),
        "{stderr}"
    );
    assert!(
        first.contains("hint: set ssl_verify to your CA bundle"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
    assert_eq!(sim.stats().requests, 0, "a request got through: {stderr}");
    assert!(!s.path("plan.jsonl").exists());

    // The same certificate named as the CA bundle: accepted.
    fs::write(s.path("ca.pem"), &cert).unwrap();
    fs::write(
        s.path("dr.yaml"),
        format!("endpoint: {endpoint}\ntoken: {TOKEN}\nssl_verify: ca.pem\n"),
    )
    .unwrap();
    let out = s.run(
        Conn::None,
        "",
        "",
        &[&plan[..], &["--config", "dr.yaml"]].concat(),
    );
    assert_code(&out, exit::OK, "trusted CA bundle");
    assert!(s.path("plan.jsonl").exists());
    assert!(sim.stats().requests > 0);
    s.assert_no_leak();

    // Another CA's bundle does not help.
    let (other_cert, _) = self_signed();
    fs::write(s.path("ca.pem"), &other_cert).unwrap();
    let before = sim.stats().requests;
    let out = s.run(
        Conn::None,
        "",
        "",
        &[
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            "again.jsonl",
            "--config",
            "dr.yaml",
        ],
    );
    assert_code(&out, exit::FATAL, "another CA");
    // At trace level the error is the last line, not the first.
    let stderr = text(&out.stderr);
    let error = stderr.lines().find(|l| l.starts_with("handover: error: "));
    assert!(
        error.is_some_and(|l| l.contains("invalid peer certificate")),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests, before);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_connection() {
    let sims = Sims::new();
    let sim = sims.start(seed(1), SimConfig::default());
    // If the check regressed, these send the request to the simulator instead.
    let proxy = sim.root();
    for (endpoint, conn, code) in [
        ("http://10.0.0.1/api/v2", Conn::Flags, exit::INVALID_INPUT),
        (
            "http://10.0.0.1/api/v2",
            Conn::ConfigFile,
            exit::INVALID_INPUT,
        ),
        (
            "http://datarobot.example.com/api/v2",
            Conn::Env,
            exit::FATAL,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handover"));
        cmd.env_clear()
            .env("HOME", dir.path())
            .env("HANDOVER_LOG", "trace")
            .env("http_proxy", &proxy)
            .env("HTTP_PROXY", &proxy)
            .env("ALL_PROXY", &proxy)
            .current_dir(dir.path())
            .args(["plan", "--to", SUCCESSOR_USERNAME, "--out", "p.jsonl"]);
        match conn {
            Conn::Flags => {
                cmd.args(["--endpoint", endpoint, "--token", TOKEN]);
            }
            Conn::ConfigFile => {
                fs::write(
                    dir.path().join("dr.yaml"),
                    format!("endpoint: {endpoint}\ntoken: {TOKEN}\n"),
                )
                .unwrap();
                cmd.args(["--config", "dr.yaml"]);
            }
            _ => {
                cmd.env("DATAROBOT_ENDPOINT", endpoint)
                    .env("DATAROBOT_API_TOKEN", TOKEN);
            }
        }
        let out = cmd.output().unwrap();
        assert_code(&out, code, endpoint);
        let stderr = text(&out.stderr);
        // One line, even at trace level: nothing was resolved or connected.
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("handover: error: invalid endpoint \"{endpoint}\"")),
            "{stderr}"
        );
        assert!(stderr.contains("plain http is allowed only to loopback hosts"));
        assert_eq!(sim.stats().requests, 0);
    }
}

/// A stand-in for an HTTP proxy: it records every request head it receives and answers
/// each with 502, so that a client that used it fails and the test sees what it sent.
struct RecordingProxy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingProxy {
    fn start() -> RecordingProxy {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = conn.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        RecordingProxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Runs `plan` with the proxy variables pointing at `proxy` and `extra` variables set.
fn plan_through_proxy(endpoint: &str, proxy: &RecordingProxy, extra: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handover"));
    cmd.env_clear()
        .env("HOME", dir.path())
        .current_dir(dir.path());
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(name, &proxy.url);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.args([
        "plan",
        "--from",
        DEPARTING_USERNAME,
        "--to",
        SUCCESSOR_USERNAME,
    ])
    .args(["--out", "p.jsonl", "--types", "project", "--rate", "2000"])
    .env("DATAROBOT_ENDPOINT", endpoint)
    .env("DATAROBOT_API_TOKEN", TOKEN)
    .output()
    .unwrap()
}

#[test]
fn a_loopback_endpoint_over_plain_http_never_goes_through_a_proxy() {
    let sims = Sims::new();
    let sim = sims.start(seed(1), SimConfig::default());
    let proxy = RecordingProxy::start();
    for endpoint in [
        sim.endpoint(),
        sim.endpoint().replace("127.0.0.1", "localhost"),
    ] {
        let before = sim.stats().requests;
        let out = plan_through_proxy(&endpoint, &proxy, &[]);
        assert_code(&out, exit::OK, &endpoint);
        assert!(
            sim.stats().requests > before,
            "{endpoint}: nothing reached the server"
        );
    }
    let seen = proxy.seen();
    assert!(seen.is_empty(), "the proxy received: {seen:?}");
}

#[test]
fn https_endpoints_still_honour_https_proxy_and_no_proxy() {
    // `.invalid` never resolves: only a proxy can carry the request anywhere.
    let endpoint = "https://dr.example.invalid/api/v2";
    let proxy = RecordingProxy::start();
    let out = plan_through_proxy(endpoint, &proxy, &[]);
    assert_code(&out, exit::FATAL, "through the proxy");
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|head| head.starts_with("CONNECT dr.example.invalid:443")),
        "{seen:?}"
    );
    // A tunnel: the proxy sees the host, never the request or its header.
    assert!(seen.iter().all(|head| !head.contains(TOKEN)), "{seen:?}");

    let proxy = RecordingProxy::start();
    for no_proxy in ["NO_PROXY", "no_proxy"] {
        let out = plan_through_proxy(endpoint, &proxy, &[(no_proxy, "dr.example.invalid")]);
        assert_code(&out, exit::FATAL, no_proxy);
    }
    let seen = proxy.seen();
    assert!(seen.is_empty(), "NO_PROXY was not honoured: {seen:?}");
}

/// A server in front of the simulator that passes every request through, but answers
/// each write with a 422 whose message, field errors and request id echo the request's
/// `Authorization` header, as a misconfigured gateway or a debugging proxy would.
fn echoing_gateway(sims: &Sims, upstream: String) -> String {
    use axum::body::{Body, to_bytes};
    use axum::extract::{Request, State};
    use axum::http::{Method, StatusCode};
    use axum::response::{IntoResponse, Response};

    async fn pass(State(upstream): State<String>, req: Request) -> Response {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if req.method() == Method::PATCH {
            let body = serde_json::json!({
                "message": format!("rejected request with Authorization: {auth}"),
                "errors": {"authorization": auth},
            });
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                [("x-request-id", auth.clone())],
                axum::Json(body),
            )
                .into_response();
        }
        let url = format!(
            "{upstream}{}",
            req.uri().path_and_query().map_or("", |p| p.as_str())
        );
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
        let bytes = to_bytes(req.into_body(), usize::MAX).await.unwrap();
        let answer = reqwest::Client::new()
            .request(method, url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
        let body = answer.bytes().await.unwrap();
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    }

    let _guard = sims.runtime.enter();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let app = axum::Router::new().fallback(pass).with_state(upstream);
    sims.runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/api/v2")
}

#[test]
fn a_server_that_echoes_the_authorization_header_in_errors_leaks_nothing() {
    let sims = Sims::new();
    let sim = sims.start(seed(1), SimConfig::default());
    let endpoint = echoing_gateway(&sims, sim.root());
    let mut s = Session::new(LogFormat::Text);
    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[
            "plan",
            "--from",
            DEPARTING_USERNAME,
            "--to",
            SUCCESSOR_USERNAME,
            "--out",
            "plan.jsonl",
            "--rate",
            "2000",
        ],
    );
    assert_code(&out, exit::OK, "plan through the gateway");
    let out = s.run(
        Conn::Env,
        &endpoint,
        TOKEN,
        &[
            "apply",
            "plan.jsonl",
            "--rate",
            "2000",
            "--max-errors",
            "1000",
        ],
    );
    // Every write was refused with the echo: recorded, and the run says so.
    assert_code(&out, exit::PARTIAL, "apply through the gateway");
    let journal = fs::read_to_string(s.path("plan.journal.jsonl")).unwrap();
    assert!(
        journal.contains("rejected request with Authorization: Token (redacted)"),
        "the server's words are kept, without the token:\n{journal}"
    );
    for report in ["csv", "json", "html"] {
        let path = s.path(&format!("plan.journal.report.{report}"));
        assert!(path.exists(), "{}", path.display());
    }
    let out = s.run(
        Conn::None,
        "",
        "",
        &[
            "status",
            "--journal",
            "plan.journal.jsonl",
            "--html",
            "status.html",
        ],
    );
    assert!(text(&out.stdout).contains("(request id Token (redacted))"));
    // At trace level, in every file written and every stream.
    s.assert_no_leak();
    assert!(sim.stats().requests > 0);
}
