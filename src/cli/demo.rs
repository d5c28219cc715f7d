//! `handover demo`: a whole offboarding on the built-in simulator, in one command and no
//! setup. It starts the simulator in-process with a seeded organisation, latency and a
//! sprinkling of faults, then runs the same code paths an admin runs: plan, apply (journal,
//! retries, read-back), verify, report.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::conn::ConnOpts;
use crate::exec::JournalMode;
use crate::exit;
use crate::plan::{OldOwnerRoleKind, PlanReader, render_table};
use crate::planner::PlannerSettings;
use crate::secret::Token;
use crate::sim::{
    DEFAULT_ADMIN_TOKEN, DEPARTING_USERNAME, GenSpec, SUCCESSOR_USERNAME, Seed, Sim, SimConfig,
};

use super::apply::{RunOpts, default_journal, execute};
use super::plan::{OffboardWho, caller_of, connect, plan_offboard, progress_on};

/// Options of `handover demo`.
#[derive(Debug, clap::Args)]
pub struct DemoOpts {
    /// Entities the departing user owns, per type (13 types).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub per_kind: usize,
    /// Seed of the organisation and of the injected faults.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub seed: u64,
    /// Where to write the plan, journal and report [default: a new directory under the
    /// system's temporary directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub pace: super::conn::PaceOpts,
}

/// Runs `handover demo`.
pub async fn run(opts: DemoOpts, quiet: bool) -> anyhow::Result<i32> {
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
         {} across 13 types; 2-6 ms latency, 2% 5xx, 0.5% dropped connections, 1% \
         commit-then-502",
        sim.endpoint(),
        opts.per_kind * 13
    );

    let run_opts = RunOpts {
        conn: ConnOpts {
            endpoint: Some(sim.endpoint()),
            token: Some(Token::new(DEFAULT_ADMIN_TOKEN)),
            config: None,
            allow_insecure_http: false,
        },
        pace: opts.pace.clone(),
        max_errors: None,
        notify: false,
        no_verify: false,
        report: None,
    };
    let (client, account) = connect(&run_opts.conn, opts.pace.policy()).await?;

    println!("2. plan: handover plan --from {DEPARTING_USERNAME} --to {SUCCESSOR_USERNAME}");
    let plan_path = dir.join("demo.plan.jsonl");
    let who = OffboardWho {
        from: Some(DEPARTING_USERNAME),
        to: SUCCESSOR_USERNAME,
        old_owner_role: OldOwnerRoleKind::None,
        types: &[],
    };
    let settings = PlannerSettings {
        concurrency: opts.pace.workers(),
        progress: progress_on(quiet),
    };
    let (written, coverage) =
        plan_offboard(&client, &caller_of(&account), &who, settings, &plan_path).await?;
    print!("{}{}", coverage.render(), render_table(&written.summary));

    println!("3. apply: handover apply {}", written.path.display());
    let journal = default_journal(&written.path);
    let applied = execute(
        &written.path,
        &journal,
        JournalMode::CreateOrResume,
        &run_opts,
        quiet,
        None,
        None,
    )
    .await?;

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
    let verdict = crate::verify::verify_entries(&client, entries, opts.pace.workers()).await?;
    let stats = sim.stats();
    println!(
        "   {} entities checked, {} not at target; the simulator saw {} requests, sent {} \
         notifications, injected {} faults, and no entity was ever without an owner: {}",
        verdict.checked,
        verdict.mismatches.len(),
        stats.requests,
        stats.notifications,
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
    let report = crate::report::ReportPaths::beside_journal(&journal);
    println!("   report   {}", report.csv.display());
    println!("   report   {}", report.json.display());
    sim.shutdown().await;

    if !verdict.ok() || !stats.ownerless.is_empty() || stats.notifications > 0 {
        return Ok(exit::MISMATCH);
    }
    Ok(applied)
}
