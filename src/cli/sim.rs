//! `handover sim`: run the built-in DataRobot simulator on a local port until Ctrl-C.
//!
//! The flags become a [`Seed`] (read from `--seed-file` or generated from `--seed`,
//! `--users`, `--per-kind`, …) and a [`SimConfig`] (one flag per knob); both are validated
//! before anything listens.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use crate::exit;
use crate::model::EntityKind;
use crate::sim::{
    GenSpec, InactiveRevokeKind, LimitOverMaxKind, RateLimit, RoleVocabKind, Seed, Sim, SimConfig,
};

/// Options of `handover sim`.
#[derive(Debug, clap::Args)]
pub struct SimOpts {
    /// Address to listen on (port 0 picks a free port; the line printed at start names it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve this JSON seed (users and entities with access lists) instead of generating one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seed", "users", "per_kind", "departing", "admin_token", "kinds", "extra_ratio", "world", "departed", "orphans"])]
    pub seed_file: Option<PathBuf>,

    /// Generation: seed of the generator; the same flags always give the same data.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Generation: number of accounts, including admin, departing, successor and inactive.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub users: usize,

    /// Generation: entities the departing user owns, per kind.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub per_kind: usize,

    /// Generation: only these kinds (comma-separated; default all 27: the 25 writable
    /// types and the 2 read-only ones).
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub kinds: Vec<EntityKind>,

    /// Generation: extra entities per owned one, owned by others (half with the departing
    /// user as editor or consumer).
    #[arg(long, value_name = "RATIO", default_value_t = 0.5)]
    pub extra_ratio: f64,

    /// Generation: the world to generate. `realistic` (the default) adds what a real
    /// tenant holds besides users: group and organization entries on a fifth of the access
    /// lists (a tenth of them with role names no client knows), a third of the data sources
    /// and stores connector-based (listed only with type=all), and data sources, custom
    /// models and tasks linked to the data store or dataset a share of them also shares.
    /// `uniform` leaves these out.
    #[arg(long, value_enum, default_value_t = WorldOpt::Realistic)]
    pub world: WorldOpt,

    /// Generation: deactivated former employees (departed1@acme.test, …), besides the one
    /// inactive account.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub departed: usize,

    /// Generation: per kind, entities whose every owner is a departed user (orphans), plus
    /// half as many owned by a departed user and an active colleague (not orphans). Needs
    /// --departed above 0.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub orphans: usize,

    /// Generation: username of the departing user.
    #[arg(long, value_name = "USER", default_value = crate::sim::DEPARTING_USERNAME)]
    pub departing: String,

    /// Generation: API token of the org admin (admin@acme.test).
    #[arg(long, value_name = "TOKEN", default_value = crate::sim::DEFAULT_ADMIN_TOKEN)]
    pub admin_token: String,

    /// Also write the seed being served to this file (to inspect generated data).
    #[arg(long, value_name = "FILE")]
    pub dump_seed: Option<PathBuf>,

    /// Role names in access-list reads and list items: each kind's own (USER, EDITOR,
    /// READ_WRITE…) or the generic READ_WRITE/READ_ONLY (except the sharedRoles reads of
    /// datasets, files, deployments and user blueprints, whose role sets are closed).
    #[arg(long, value_enum, default_value_t = VocabOpt::Specific)]
    pub role_vocab: VocabOpt,

    /// Status for a write that would leave no owner (rule R1): 409 or 422.
    #[arg(long, value_name = "STATUS", default_value_t = 409)]
    pub last_owner_status: u16,

    /// Removing a deactivated user's access (a revoke), which DataRobot does not document:
    /// `allow` applies it; `refuse` refuses the whole request with
    /// --inactive-revoke-status and a message naming the inactive users. Giving an inactive
    /// user a role, a lower one included, is refused either way.
    #[arg(long, value_enum, default_value_t = InactiveRevokeOpt::Allow)]
    pub inactive_revoke: InactiveRevokeOpt,

    /// Status for a write refused by --inactive-revoke refuse: 400, 409 or 422.
    #[arg(long, value_name = "STATUS", default_value_t = 422)]
    pub inactive_revoke_status: u16,

    /// Status for a successful calendar share: 204 (empty) or 200 (empty body).
    #[arg(long, value_name = "STATUS", default_value_t = 204)]
    pub calendar_share_status: u16,

    /// Page size of paginated entity lists when the request sends no limit.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub list_page_default: usize,

    /// Largest page size of paginated entity lists.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub list_page_max: usize,

    /// Page size of access-list reads when the request sends no limit.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub acl_page_default: usize,

    /// Largest page size of access-list reads.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub acl_page_max: usize,

    /// Rate limit: sustained requests per second per token (a token bucket over all of a
    /// token's requests); off unless given. Excess requests get 429 with Retry-After.
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<f64>,

    /// Rate limit: bucket size (requests allowed at once after a quiet spell).
    #[arg(long, value_name = "N", default_value_t = 10, requires = "rate_limit")]
    pub rate_limit_burst: u32,

    /// Rate limit: Retry-After seconds on a 429; 0 = time until the bucket refills (≥ 1).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        requires = "rate_limit"
    )]
    pub retry_after_secs: u64,

    /// Live prediction traffic: every deployments list read in the default order (last
    /// prediction time) finds that order moved since the read before.
    #[arg(long)]
    pub prediction_traffic: bool,

    /// Every second page of a paginated read holds half the items asked for; its `next`
    /// goes on from there (a short page that is not the last).
    #[arg(long)]
    pub ragged_pages: bool,

    /// Show group and organization entries in accessControl reads too (sharedRoles reads
    /// always show them).
    #[arg(long)]
    pub access_control_principals: bool,

    /// Data sources and stores listed without `type` come in every type, connectors
    /// included (the sources say JDBC only; this plays the other reading).
    #[arg(long)]
    pub type_default_all: bool,

    /// catalogItems' ownerUserId/ownerUsername filters and use cases' `owners` name only
    /// the creator, not every owner (a reading the sources leave open, contract C20).
    #[arg(long)]
    pub owner_hints_creator_only: bool,

    /// At most K API requests in service at once; the others queue (so latency grows with
    /// load). Off unless given.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub capacity: Option<u32>,

    /// Delay before every API request is handled, in milliseconds (writes apply after it).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Up to this much random extra delay per request, in milliseconds (from --fault-seed).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter_ms: u64,

    /// Probability (0..1) that a request is answered 500/502/503/504 and not applied.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fault_rate_5xx: f64,

    /// Probability (0..1) that a request's connection is closed with no answer, not applied.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub drop_rate: f64,

    /// Probability (0..1) that a successful write is applied and then answered 502.
    #[arg(long = "commit-then-502-rate", value_name = "P", default_value_t = 0.0)]
    pub commit_then_502_rate: f64,

    /// Seed of the RNG behind every fault and jitter decision (reproducible runs).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_seed: u64,

    /// Types whose share PATCH replaces the whole access list with the one sent (whatever
    /// is not named loses its access; a list without an owner is still refused); the others
    /// change only the recipients named. `none` for set semantics everywhere.
    #[arg(
        long,
        value_name = "TYPES",
        value_delimiter = ',',
        default_value = "workload,artifact,artifact_repository"
    )]
    pub replace_semantics: Vec<String>,

    /// Types whose list shows an org admin only what they created or were given, as a
    /// non-admin's does (whether admins see others' entities of the newer types is not
    /// documented). Default: none.
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub admin_list_own_only: Vec<String>,

    /// Types whose list route does not exist, as on an older DataRobot: the list answers
    /// 404 (get-one and the access list still answer). Default: none.
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub absent_lists: Vec<String>,

    /// Leave out the non-user recipients of the newer types (externalApplication entries
    /// on custom applications … value trackers, role entries on workloads, artifacts and
    /// artifact repositories): reads do not show them and writes may not name them.
    #[arg(long)]
    pub no_extra_recipients: bool,

    /// Accept fields a Workload API share body's schema does not have (canShare, name,
    /// sendNotification, …) instead of refusing them with 422.
    #[arg(long)]
    pub lenient_workload_bodies: bool,

    /// customJobs/ refuses a list request without offset and limit (the reference marks both
    /// required; DataRobot's Python client sends neither).
    #[arg(long)]
    pub custom_jobs_require_paging: bool,

    /// What a Workload API list (workloads, artifacts, artifact repositories) does with a
    /// limit above 100: refuse it with 422 or cut it to 100.
    #[arg(long, value_enum, default_value_t = LimitOverMaxOpt::Refuse)]
    pub workload_limit_over_max: LimitOverMaxOpt,

    /// The newer types' access-list reads name editors USER and consumers OBSERVER, as their
    /// generated request texts do, instead of each type's own names.
    #[arg(long)]
    pub observer_role_names: bool,
}

/// `--workload-limit-over-max` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LimitOverMaxOpt {
    /// 422 naming `limit`.
    Refuse,
    /// The limit is cut to 100.
    Clamp,
}

/// The simulator's kinds a `--…` list of type names names; `none` names nothing.
fn sim_kinds(flag: &str, names: &[String]) -> anyhow::Result<Vec<crate::sim::EntityKind>> {
    let mut kinds = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if name == "none" {
            continue;
        }
        let kind = crate::sim::EntityKind::from_name(name).ok_or_else(|| {
            let valid: Vec<&str> = crate::sim::EntityKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect();
            exit::with_code(
                exit::INVALID_INPUT,
                anyhow::anyhow!(
                    "--{flag}: unknown type {name:?} (valid: none, {})",
                    valid.join(", ")
                ),
            )
        })?;
        kinds.push(kind);
    }
    Ok(kinds)
}

/// `--role-vocab` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum VocabOpt {
    /// Each kind's own role names.
    Specific,
    /// READ_WRITE / READ_ONLY for every kind.
    Generic,
}

/// `--inactive-revoke` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InactiveRevokeOpt {
    /// A deactivated user's access can be removed.
    Allow,
    /// A request that removes a deactivated user's access is refused whole.
    Refuse,
}

/// `--world` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WorldOpt {
    /// Users, entities and access lists, plus groups, connectors and linked entities.
    Realistic,
    /// Users, entities and access lists only.
    Uniform,
}

/// What `handover sim` runs with, validated.
#[derive(Debug)]
pub struct SimSettings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The data to serve.
    pub seed: Seed,
    /// The knobs.
    pub config: SimConfig,
    /// Where to write the seed, if asked.
    pub dump_seed: Option<PathBuf>,
}

impl SimOpts {
    /// Builds the seed and the config, checking both.
    pub fn settings(&self) -> anyhow::Result<SimSettings> {
        let seed = match &self.seed_file {
            Some(path) => Seed::load(path).map_err(|e| exit::with_code(exit::INVALID_INPUT, e))?,
            None => {
                let kinds: Vec<EntityKind> = if self.kinds.is_empty() {
                    EntityKind::ALL.to_vec()
                } else {
                    self.kinds.clone()
                };
                let mut spec = match self.world {
                    WorldOpt::Realistic => GenSpec::realistic(self.seed, self.per_kind),
                    WorldOpt::Uniform => GenSpec::uniform(self.seed, self.per_kind),
                };
                spec.per_kind = kinds
                    .into_iter()
                    .map(|k| (k.into(), self.per_kind))
                    .collect::<BTreeMap<_, _>>();
                spec.users = self.users;
                spec.departing = self.departing.clone();
                spec.admin_token = self.admin_token.clone();
                spec.extra_ratio = self.extra_ratio;
                spec.departed = self.departed;
                spec.orphans = if self.departed > 0 { self.orphans } else { 0 };
                Seed::generate(&spec)
            }
        };
        seed.validate()
            .map_err(|e| exit::with_code(exit::INVALID_INPUT, e))?;
        let config = SimConfig {
            role_vocab: match self.role_vocab {
                VocabOpt::Specific => RoleVocabKind::Specific,
                VocabOpt::Generic => RoleVocabKind::Generic,
            },
            last_owner_status: self.last_owner_status,
            calendar_share_status: self.calendar_share_status,
            list_page_default: self.list_page_default,
            list_page_max: self.list_page_max,
            acl_page_default: self.acl_page_default,
            acl_page_max: self.acl_page_max,
            rate_limit: self.rate_limit.map(|per_second| RateLimit {
                per_second,
                burst: self.rate_limit_burst,
                retry_after_secs: self.retry_after_secs,
            }),
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            fault_rate_5xx: self.fault_rate_5xx,
            drop_rate: self.drop_rate,
            commit_then_502_rate: self.commit_then_502_rate,
            fault_seed: self.fault_seed,
            // Per-entity forced refusals are for tests (in-process, or `POST /__sim/config`).
            force_status: Vec::new(),
            prediction_traffic: self.prediction_traffic,
            ragged_pages: self.ragged_pages,
            access_control_principals: self.access_control_principals,
            type_default_all: self.type_default_all,
            owner_hints_creator_only: self.owner_hints_creator_only,
            capacity: self.capacity.map(|k| k as usize),
            inactive_revoke: match self.inactive_revoke {
                InactiveRevokeOpt::Allow => InactiveRevokeKind::Allow,
                InactiveRevokeOpt::Refuse => InactiveRevokeKind::Refuse,
            },
            inactive_revoke_status: self.inactive_revoke_status,
            replace_semantics: sim_kinds("replace-semantics", &self.replace_semantics)?,
            admin_list_own_only: sim_kinds("admin-list-own-only", &self.admin_list_own_only)?,
            extra_recipients: !self.no_extra_recipients,
            workload_strict_bodies: !self.lenient_workload_bodies,
            custom_jobs_require_paging: self.custom_jobs_require_paging,
            workload_limit_over_max: match self.workload_limit_over_max {
                LimitOverMaxOpt::Refuse => LimitOverMaxKind::Refuse,
                LimitOverMaxOpt::Clamp => LimitOverMaxKind::Clamp,
            },
            observer_role_names: self.observer_role_names,
            absent_lists: sim_kinds("absent-lists", &self.absent_lists)?,
        };
        config
            .validate()
            .map_err(|e| exit::with_code(exit::INVALID_INPUT, e))?;
        Ok(SimSettings {
            listen: self.listen,
            seed,
            config,
            dump_seed: self.dump_seed.clone(),
        })
    }
}

/// Runs the simulator until Ctrl-C. Prints one line to stdout once it listens:
/// `handover sim listening: endpoint=http://HOST:PORT/api/v2 admin=USER token=TOKEN`.
pub async fn run(opts: SimOpts) -> anyhow::Result<i32> {
    let settings = opts.settings()?;
    if let Some(path) = &settings.dump_seed {
        let text = serde_json::to_string_pretty(&settings.seed)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let (admin, token) = match settings.seed.admin() {
        Some(u) => (u.username.clone(), u.effective_token()),
        None => ("-".to_string(), "-".to_string()),
    };
    let handle = Sim::start(settings.listen, settings.seed, settings.config)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "handover sim listening: endpoint={} admin={admin} token={token}",
            handle.endpoint()
        )?;
        out.flush()?;
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    handle.shutdown().await;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimOpts,
    }

    fn settings(args: &[&str]) -> anyhow::Result<SimSettings> {
        let mut argv = vec!["sim", "--per-kind", "1", "--users", "6"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.sim.settings()
    }

    #[test]
    fn the_newer_types_knobs_default_as_documented_and_take_type_names() {
        let c = settings(&[]).unwrap().config;
        assert_eq!(c.replace_semantics, crate::sim::default_replace_kinds());
        assert!(c.extra_recipients && c.workload_strict_bodies);
        assert!(!c.custom_jobs_require_paging && !c.observer_role_names);
        assert_eq!(c.workload_limit_over_max, LimitOverMaxKind::Refuse);
        assert!(c.admin_list_own_only.is_empty() && c.absent_lists.is_empty());

        let c = settings(&[
            "--replace-semantics",
            "none",
            "--admin-list-own-only",
            "application,workload",
            "--absent-lists",
            "value_tracker",
            "--no-extra-recipients",
            "--lenient-workload-bodies",
            "--custom-jobs-require-paging",
            "--workload-limit-over-max",
            "clamp",
            "--observer-role-names",
        ])
        .unwrap()
        .config;
        assert!(c.replace_semantics.is_empty());
        assert_eq!(
            c.admin_list_own_only,
            [
                crate::sim::EntityKind::Application,
                crate::sim::EntityKind::Workload
            ]
        );
        assert_eq!(c.absent_lists, [crate::sim::EntityKind::ValueTracker]);
        assert!(!c.extra_recipients && !c.workload_strict_bodies);
        assert!(c.custom_jobs_require_paging && c.observer_role_names);
        assert_eq!(c.workload_limit_over_max, LimitOverMaxKind::Clamp);
    }

    #[test]
    fn an_unknown_type_or_a_read_only_one_to_replace_is_bad_input() {
        let e = settings(&["--absent-lists", "widget"]).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::INVALID_INPUT);
        let text = e.to_string();
        assert!(
            text.contains("--absent-lists")
                && text.contains("\"widget\"")
                && text.contains("artifact_repository"),
            "{text}"
        );
        let e = settings(&["--replace-semantics", "notebook"]).unwrap_err();
        assert_eq!(exit::code_of(&e), exit::INVALID_INPUT);
    }
}
