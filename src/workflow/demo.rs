//! `demo`: a whole offboarding on the built-in simulator, in one command and no setup. It
//! starts the simulator in-process with a seeded organisation (the realistic world: groups,
//! connectors, linked entities), latency and a sprinkling of faults, then runs the same
//! code paths an admin runs: plan, apply (journal, retries, read-back), verify, report.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;

use crate::api::ClientPolicy;
use crate::api::config::ConnInputs;
use crate::exec::{JournalMode, ProgressKind};
use crate::exit;
use crate::model::EntityKind;
use crate::plan::planner::PlannerSettings;
use crate::plan::{OldOwnerRoleKind, PlanReader, render_table};
use crate::secret::Token;
use crate::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
};

use super::apply::{RunSettings, default_journal, execute, resume_command};
use super::plan::{OffboardWho, caller_of, plan_offboard};

/// What the demo runs with.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    /// Entities the departing user owns, per type.
    pub per_kind: usize,
    /// Seed of the organisation and of the injected faults.
    pub seed: u64,
    /// Where the plan, journal and report go; `None`: a new temporary directory.
    pub dir: Option<PathBuf>,
    /// The client's pace.
    pub policy: ClientPolicy,
    /// Entities worked at once.
    pub workers: usize,
    /// The apply's progress display.
    pub progress: ProgressKind,
    /// Progress bars while planning.
    pub planner_progress: bool,
}

/// Runs the demo, narrating each step on stdout (`shutdown` makes, from the command that
/// resumes the apply, the future that interrupts it); returns the exit code: the apply's,
/// or [`exit::MISMATCH`] when the check finds an entity off its target, an ownerless
/// moment or a notification.
pub async fn run<F: Future<Output = ()>>(
    settings: DemoSettings,
    quiet: bool,
    shutdown: impl FnOnce(&str) -> F,
) -> anyhow::Result<i32> {
    let opts = settings;
    let dir = match &opts.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!(
            "handover-demo-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let seed = Seed::generate(&GenSpec::realistic(opts.seed, opts.per_kind));
    let entities = seed.entities.len();
    let users = seed.users.len();
    let config = SimConfig {
        latency_ms: 2,
        jitter_ms: 4,
        fault_rate_5xx: 0.02,
        drop_rate: 0.005,
        commit_then_502_rate: 0.01,
        fault_seed: opts.seed,
        prediction_traffic: true,
        ..SimConfig::default()
    };
    let sim = Sim::start("127.0.0.1:0".parse()?, seed, config.clone())?;
    println!(
        "1. simulator: {} with {users} users and {entities} entities; {DEPARTING_USERNAME} owns \
         {} across {} types; 2-6 ms latency, 2% 5xx, 0.5% dropped connections, 1% \
         commit-then-502",
        sim.endpoint(),
        opts.per_kind * EntityKind::WRITABLE.len(),
        EntityKind::WRITABLE.len()
    );

    let run = RunSettings {
        conn: ConnInputs {
            endpoint: Some(sim.endpoint()),
            token: Some(Token::new(DEFAULT_ADMIN_TOKEN)),
            config_file: None,
            allow_insecure_http: false,
        },
        policy: opts.policy.clone(),
        workers: opts.workers,
        max_errors: None,
        notify: false,
        verify: true,
        report: None,
        progress: opts.progress,
    };
    let (client, account) = super::connect(&run.conn, run.policy.clone()).await?;

    println!("2. plan: handover plan --from {DEPARTING_USERNAME} --to {SUCCESSOR_USERNAME}");
    let plan_path = dir.join("demo.plan.jsonl");
    let who = OffboardWho {
        from: Some(DEPARTING_USERNAME),
        to: SUCCESSOR_USERNAME,
        old_owner_role: OldOwnerRoleKind::None,
        types: &[],
        keep_other_access: false,
    };
    let settings = PlannerSettings {
        concurrency: opts.workers,
        progress: opts.planner_progress,
    };
    let (written, coverage) =
        plan_offboard(&client, &caller_of(&account), &who, settings, &plan_path).await?;
    print!("{}{}", coverage.render(), render_table(&written.summary));

    println!("3. apply: handover apply {}", written.path.display());
    let journal = default_journal(&written.path);
    let resume = resume_command(&journal);
    let applied = execute(
        &written.path,
        &journal,
        JournalMode::CreateOrResume,
        &run,
        None,
        None,
        || shutdown(&resume),
    )
    .await?
    .conclude(&resume, quiet);

    // The check reads the end state, so the simulator stops injecting faults for it: an
    // unlucky run of retries there would say nothing about the handover.
    let faults = sim.stats().faults;
    sim.set_config(SimConfig {
        fault_rate_5xx: 0.0,
        drop_rate: 0.0,
        commit_then_502_rate: 0.0,
        ..config
    });
    println!("4. verify: every planned entity re-read from the server (faults off)");
    let entries = PlanReader::open(&written.path)?.collect::<Result<Vec<_>, _>>()?;
    let verdict = crate::after::verify::verify_entries(&client, entries, opts.workers).await?;
    let stats = sim.stats();
    // Secure configurations notify whatever is sent (contract §12.1 X5): shown beside the
    // plan's count (a write retried after a commit-then-502 may notify twice, so it is
    // not a verdict here; tests/notify_and_notebooks.rs checks it without faults).
    let planned_notifications = written.summary.notifications();
    println!(
        "   {} entities checked, {} not at target; the simulator saw {} requests, sent {} \
         notifications that could have been suppressed and {} on secure configurations \
         (the plan said {}), injected {} faults, and no entity was ever without an owner: {}",
        verdict.checked,
        verdict.mismatches.len(),
        stats.requests,
        stats.notifications,
        stats.secure_config_notifications,
        planned_notifications,
        faults.http_5xx + faults.drop + faults.commit_then_502,
        if stats.ownerless.is_empty() {
            "true"
        } else {
            "FALSE"
        }
    );
    for m in verdict.mismatches.iter().take(20) {
        println!("   {} {} ({}): {}", m.kind, m.id, m.name, m.problem);
    }
    println!("files:");
    println!("   plan     {}", written.path.display());
    println!("   review   {}", written.csv_path.display());
    println!("   journal  {}", journal.display());
    let report = crate::exec::report::ReportPaths::beside_journal(&journal);
    println!("   report   {}", report.csv.display());
    println!("   report   {}", report.json.display());
    println!("   report   {}", report.html.display());
    sim.shutdown().await;

    if !verdict.ok() || !stats.ownerless.is_empty() || stats.notifications > 0 {
        return Ok(exit::MISMATCH);
    }
    Ok(applied)
}
