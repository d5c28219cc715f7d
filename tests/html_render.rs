//! The HTML pages in a real browser: an inventory page made from a view built here, and a
//! run's pages (the report's `.html` and `status --html`) from a real run of the binary
//! against the simulator, are screenshot by headless Chromium and the screenshots read
//! back: they must be the size asked for, far from blank, and show the bars in their
//! colours. The pages are also held to what the files promise: no script, nothing loaded
//! from elsewhere, server strings escaped, owner-only files.
//!
//! Chromium is found as `$HANDOVER_CHROMIUM`, `chromium` or `chromium-browser`. This file
//! is a harness of its own (libtest-mimic, `harness = false` in Cargo.toml) so that the
//! choice is made at run time and shown: without a Chromium the browser tests are reported
//! `ignored`, with the reason on their line, never passed as if checked; with
//! `HANDOVER_REQUIRE_BROWSER=1` (as `.ci/run` sets) they fail instead. A Chromium that is
//! found but cannot render fails them either way. `HANDOVER_HTML_OUT=DIR` keeps the pages
//! and screenshots there, to look at.

mod exec_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use exec_support::*;
use handover::after::html::{InventoryView, OrphanRow, OwnerCount, TypeCounts, inventory_page};
use handover::exit;
use handover::model::EntityKind;
use handover::sim::{DEPARTING_USERNAME, ForcedOn, ForcedStatus, SimConfig};
use libtest_mimic::{Arguments, Completion, Trial};

/// The window Chromium renders into, and so the screenshot's size.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 1600;
/// A hung browser fails the test after this long instead of hanging it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The page's colours the screenshots must show.
const BLUE: [u8; 3] = [0x25, 0x63, 0xeb];
const GREEN: [u8; 3] = [0x16, 0xa3, 0x4a];
const RED: [u8; 3] = [0xdc, 0x26, 0x26];
const AMBER: [u8; 3] = [0xf5, 0x9e, 0x0b];

/// A name that must come out as text.
const HOSTILE: &str = "<script>alert('owned')</script> & \"quotes\"";

/// Set to `1`, a missing Chromium fails the browser tests instead of leaving them ignored.
const REQUIRE_BROWSER: &str = "HANDOVER_REQUIRE_BROWSER";

const INSTALL_HINT: &str = "install Chromium (Debian: `apt-get install chromium`; Ubuntu: \
                            `chromium-browser`) or name its binary in HANDOVER_CHROMIUM";

/// A test that needs the browser, given its path.
type BrowserTest = fn(&Path);

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let browser = find_chromium();
    let required = std::env::var_os(REQUIRE_BROWSER).is_some_and(|v| v == "1");
    let browser_tests: [(&str, BrowserTest); 3] = [
        (
            "the_inventory_page_renders_in_chromium",
            the_inventory_page_renders_in_chromium,
        ),
        (
            "the_inventory_commands_page_renders_in_chromium",
            the_inventory_commands_page_renders_in_chromium,
        ),
        (
            "a_runs_pages_render_in_chromium",
            a_runs_pages_render_in_chromium,
        ),
    ];
    let mut trials: Vec<Trial> = browser_tests
        .into_iter()
        .map(|(name, test)| {
            let browser = browser.clone();
            Trial::ignorable_test(name, move || match browser {
                Some(browser) => {
                    test(&browser);
                    Ok(Completion::Completed)
                }
                None if required => Err(format!(
                    "no Chromium found, and {REQUIRE_BROWSER}=1 requires one: {INSTALL_HINT}"
                )
                .into()),
                None => Ok(Completion::ignored_with(
                    "not rendered: no Chromium found (install chromium, or set HANDOVER_CHROMIUM)",
                )),
            })
        })
        .collect();
    trials.push(Trial::test(
        "an_unwritable_status_page_fails_first_in_one_line",
        || {
            an_unwritable_status_page_fails_first_in_one_line();
            Ok(())
        },
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

/// The Chromium binary: `$HANDOVER_CHROMIUM`, else `chromium` or `chromium-browser` on
/// `PATH`; `None` when there is none.
fn find_chromium() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os("HANDOVER_CHROMIUM") {
        return Some(PathBuf::from(named));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            let executable = std::fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs `test` on a multi-threaded tokio runtime of two workers, as `#[tokio::test]` did.
fn block_on<F: std::future::Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test)
}

/// A decoded screenshot.
struct Shot {
    width: u32,
    height: u32,
    /// RGB, row by row.
    pixels: Vec<[u8; 3]>,
}

impl Shot {
    /// The share of pixels that are not (nearly) white.
    fn inked(&self) -> f64 {
        let inked = self
            .pixels
            .iter()
            .filter(|p| p.iter().any(|c| *c < 235))
            .count();
        inked as f64 / self.pixels.len() as f64
    }

    /// Pixels within a small distance of `colour` (anti-aliasing aside, flat fills are
    /// exact).
    fn count(&self, colour: [u8; 3]) -> usize {
        self.pixels
            .iter()
            .filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 6))
            .count()
    }
}

/// Screenshots the page at `html` with headless Chromium (`browser`) into `png` and
/// decodes it. Chromium's profile and home are in `scratch`.
fn screenshot(browser: &Path, html: &Path, png: &Path, scratch: &Path) -> Shot {
    let profile = scratch.join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let log = scratch.join(format!(
        "chromium-{}.log",
        png.file_stem().unwrap().to_string_lossy()
    ));
    let mut child = Command::new(browser)
        .env("HOME", scratch)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", browser.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish the screenshot of {} within {BROWSER_TIMEOUT:?}",
                browser.display(),
                html.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let errors = std::fs::read_to_string(log.with_extension("err.log")).unwrap_or_default();
    assert!(
        status.success() && png.is_file(),
        "{} could not render {} ({status}); {INSTALL_HINT}\nits stderr ends:\n{}",
        browser.display(),
        html.display(),
        tail(&errors, 30)
    );
    decode(png)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn decode(path: &Path) -> Shot {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let mut pixels = Vec::with_capacity((info.width * info.height) as usize);
    for row in buf[..info.buffer_size()].chunks(info.line_size) {
        for px in row[..info.width as usize * channels].chunks(channels) {
            pixels.push([px[0], px[1], px[2]]);
        }
    }
    Shot {
        width: info.width,
        height: info.height,
        pixels,
    }
}

/// Keeps `files` in `$HANDOVER_HTML_OUT`, when it is set.
fn keep(files: &[&Path]) {
    let Some(out) = std::env::var_os("HANDOVER_HTML_OUT") else {
        return;
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap();
    for f in files {
        std::fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
    }
}

/// What no page may hold: a script, or anything fetched from elsewhere.
fn assert_self_contained(html: &str, what: &str) {
    let lower = html.to_lowercase();
    for banned in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<object", "<embed",
    ] {
        assert!(!lower.contains(banned), "{what}: `{banned}` in the page");
    }
}

fn assert_private(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "{} has mode {:o}",
        path.display(),
        mode & 0o777
    );
}

/// An inventory of a mid-sized tenant: every type, two dozen owners, orphans past the cap.
fn inventory() -> InventoryView {
    let by_type = EntityKind::ALL
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            // Thirteen made-up sizes, cycled over however many kinds there are.
            let entities = [4200, 950, 310, 120, 18, 640, 75, 230, 160, 12, 9, 1300, 44][i % 13];
            let read_only = !kind.is_writable();
            TypeCounts {
                kind: kind.as_str().to_string(),
                entities,
                orphans: if read_only {
                    0
                } else {
                    entities / [7, 20, 9, 40, 6, 15, 30, 11, 8, 4, 9, 25, 5][i % 13]
                },
                unreadable: [0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0][i % 13],
                read_only,
            }
        })
        .collect();
    let owners = (0..25u64)
        .map(|i| OwnerCount {
            username: if i == 3 {
                HOSTILE.to_string()
            } else {
                format!("user{i:02}@acme.test")
            },
            active: match i % 7 {
                2 => Some(false),
                5 => None,
                _ => Some(true),
            },
            owned: 1800 / (i + 1),
        })
        .collect();
    let orphans = (0..60u64)
        .map(|i| OrphanRow {
            kind: EntityKind::ALL[i as usize % EntityKind::ALL.len()]
                .as_str()
                .to_string(),
            id: format!("{:024x}", 0xabcdef_u64 * (i + 1)),
            name: if i == 0 {
                HOSTILE.to_string()
            } else {
                format!("Quarterly churn model v{i}")
            },
            owners: if i % 5 == 0 {
                Vec::new()
            } else {
                vec![format!("left{:02}@acme.test", i % 9)]
            },
        })
        .collect();
    InventoryView {
        title: "Inventory".into(),
        server: "https://app.datarobot.example/api/v2".into(),
        generated: "2026-11-01T09:30:00Z".into(),
        user: None,
        by_type,
        owners,
        orphans,
        orphans_total: 835,
        notes: vec![
            "the caller is not an organization administrator: only what is shared with it \
             was listed"
                .into(),
            "execution environments: 2 pages were refused (403) and are not counted".into(),
        ],
    }
}

fn the_inventory_page_renders_in_chromium(browser: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let html = inventory_page(&inventory());
    assert_self_contained(&html, "inventory");
    assert!(html.contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
    let page = dir.path().join("inventory.html");
    handover::after::html::write_page(&page, &html).unwrap();
    assert_private(&page);

    let png = dir.path().join("inventory.png");
    let shot = screenshot(browser, &page, &png, dir.path());
    keep(&[&page, &png]);
    assert_eq!((shot.width, shot.height), (WIDTH, HEIGHT));
    let inked = shot.inked();
    assert!(
        inked > 0.05,
        "the screenshot is nearly blank: {inked:.3} inked"
    );
    assert!(
        shot.count(BLUE) > 3000,
        "too few bar pixels: {}",
        shot.count(BLUE)
    );
    assert!(
        shot.count(AMBER) > 300,
        "no orphan bars: {}",
        shot.count(AMBER)
    );
}

/// `inventory --html` of a simulated tenant with departed users: the page the command
/// writes, not one built by hand, renders with its bars and orphans.
fn the_inventory_commands_page_renders_in_chromium(browser: &Path) {
    block_on(the_inventory_commands_page_renders(browser));
}

async fn the_inventory_commands_page_renders(browser: &Path) {
    let w = world(handover::sim::Seed::generate(&handover::sim::GenSpec {
        departed: 2,
        orphans: 2,
        ..handover::sim::GenSpec::uniform(5, 3)
    }));
    let run = Run::from(
        run_to_end(handover_cmd(
            &w,
            &["-q", "inventory", "--out", "inv.csv", "--html", "inv.html"],
        ))
        .await,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let page = w.path("inv.html");
    assert_private(&page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html, "inventory --html");
    assert!(
        html.contains("departed1@acme.test"),
        "the orphans' owners are named"
    );
    assert!(!html.contains(handover::sim::DEFAULT_ADMIN_TOKEN));

    let png = w.path("inv.png");
    let shot = screenshot(browser, &page, &png, w.dir.path());
    keep(&[&page, &png]);
    assert_eq!((shot.width, shot.height), (WIDTH, HEIGHT));
    assert!(shot.inked() > 0.05, "nearly blank: {:.3}", shot.inked());
    assert!(
        shot.count(BLUE) > 1000,
        "too few bar pixels: {}",
        shot.count(BLUE)
    );
    assert!(
        shot.count(AMBER) > 100,
        "no orphan bars: {}",
        shot.count(AMBER)
    );
}

fn a_runs_pages_render_in_chromium(browser: &Path) {
    block_on(a_runs_pages_render(browser));
}

async fn a_runs_pages_render(browser: &Path) {
    // A departing user's project with a hostile name, and some entities the server will
    // refuse or lose, so the run has failures to show.
    let mut seed = generated(31, 4);
    let hostile = seed
        .entities
        .iter_mut()
        .find(|e| {
            e.access
                .iter()
                .any(|g| g.username == DEPARTING_USERNAME && g.role == handover::sim::Role::Owner)
        })
        .expect("the departing user owns something");
    hostile.name = HOSTILE.to_string();
    let w = world(seed);
    let entries = w.offboard_entries().await;
    assert!(entries.len() > 20, "{}", entries.len());
    w.write_plan("plan.jsonl", &entries);
    let forced = |i: usize, status: u16, on: ForcedOn| ForcedStatus {
        kind: entries[i].kind.into(),
        id: entries[i].id.clone(),
        status,
        on,
    };
    let hostile_at = entries.iter().position(|e| e.name == HOSTILE).unwrap();
    w.sim.set_config(SimConfig {
        latency_ms: 15,
        force_status: vec![
            forced(hostile_at, 403, ForcedOn::Write),
            forced((hostile_at + 5) % entries.len(), 404, ForcedOn::Write),
            forced(
                (hostile_at + 9) % entries.len(),
                403,
                ForcedOn::ReadAfterWrite,
            ),
        ],
        ..SimConfig::default()
    });

    let out = run_to_end(handover_cmd(
        &w,
        &["apply", "plan.jsonl", "--rate", "200", "--concurrency", "4"],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(exit::PARTIAL),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plan.journal.report.html"), "{stderr}");

    let out = run_to_end(handover_cmd(
        &w,
        &[
            "status",
            "--journal",
            "plan.journal.jsonl",
            "--html",
            "status.html",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("status.html"));

    let n = entries.len();
    for (name, heading) in [
        ("plan.journal.report.html", "Run report"),
        ("status.html", "Run status"),
    ] {
        let page = w.path(name);
        assert_private(&page);
        let html = std::fs::read_to_string(&page).unwrap();
        assert_self_contained(&html, name);
        assert!(html.contains(heading), "{name}");
        // The refused project, by name, escaped.
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
            ),
            "{name}: the hostile name is not there, escaped"
        );
        assert!(
            html.contains(&format!("<div class=\"big\">{n}</div>")),
            "{name}"
        );
        assert!(
            html.contains("Rate over time") && html.contains("<svg"),
            "{name}"
        );

        let png = w.path(&format!("{name}.png"));
        let shot = screenshot(browser, &page, &png, w.dir.path());
        keep(&[&page, &png]);
        assert_eq!((shot.width, shot.height), (WIDTH, HEIGHT));
        let inked = shot.inked();
        assert!(inked > 0.05, "{name}: nearly blank, {inked:.3} inked");
        assert!(
            shot.count(GREEN) > 3000,
            "{name}: {} green",
            shot.count(GREEN)
        );
        assert!(shot.count(RED) > 50, "{name}: {} red", shot.count(RED));
    }
}

fn an_unwritable_status_page_fails_first_in_one_line() {
    block_on(an_unwritable_status_page_fails_first());
}

async fn an_unwritable_status_page_fails_first() {
    let w = world(generated(32, 1));
    // The journal does not exist either: the page is checked before it is read.
    for page in ["no/such/dir/status.html", "."] {
        let out = run_to_end(handover_cmd(
            &w,
            &["status", "--journal", "missing.jsonl", "--html", page],
        ))
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(exit::INVALID_INPUT), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("handover: error: cannot write {page}: ")),
            "{stderr}"
        );
        assert!(text(&out.stdout).is_empty());
    }
    assert_eq!(w.sim.stats().requests, 0);
}
