//! The simulator's knobs: which variant of the open questions of the contract it plays
//! (role vocabulary, status codes, and for the §12 types write semantics, visibility,
//! recipient types, body strictness, paging and absent routes), page sizes, and the faults
//! it injects (rate limiting, latency, 5xx answers, dropped connections, writes that land
//! but answer 502).
//!
//! A [`SimConfig`] can be changed while the server runs ([`crate::SimHandle::set_config`] or
//! `POST /__sim/config`); every request reads the config that is current when it arrives.
//! Its JSON form uses the Rust field names (snake_case); every field is optional there.

use serde::{Deserialize, Serialize};

use crate::kinds::{EntityKind, RoleVocabKind};

use crate::SimError;

/// Everything about the simulator's behaviour that is not the data it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Which role names access-list reads (and the caller's `role` in list items) use: each
    /// kind's own names (`USER` on projects, `EDITOR` on datasets, `READ_WRITE` on calendars)
    /// or the generic `READ_WRITE`/`READ_ONLY`. `OWNER` is always `OWNER`. The sharedRoles
    /// reads of datasets, files, deployments and user blueprints keep their own names either
    /// way: their role enums are closed and the official client rejects generic names there.
    pub role_vocab: RoleVocabKind,
    /// Status of a write refused because it would leave no owner (rule R1): 409 or 422.
    pub last_owner_status: u16,
    /// Status of a successful calendar share: 204 (empty body) or 200 (empty JSON object).
    pub calendar_share_status: u16,
    /// Page size of paginated entity lists when the request gives no `limit`.
    pub list_page_default: usize,
    /// Largest page size of paginated entity lists; a larger `limit` is cut to this.
    pub list_page_max: usize,
    /// Page size of access-list reads when the request gives no `limit`.
    pub acl_page_default: usize,
    /// Largest page size of access-list reads.
    pub acl_page_max: usize,
    /// A token bucket per API token over all of that token's requests; `None` for none.
    pub rate_limit: Option<RateLimit>,
    /// Delay before every API request is handled (writes apply after it).
    pub latency_ms: u64,
    /// Up to this much extra delay, drawn per request from the fault RNG.
    pub jitter_ms: u64,
    /// Probability that a request is answered 500/502/503/504 without being applied.
    pub fault_rate_5xx: f64,
    /// Probability that a request's connection is closed with no response, not applied.
    pub drop_rate: f64,
    /// Probability that a successful write is applied and then answered 502.
    pub commit_then_502_rate: f64,
    /// Seed of the one RNG behind every random decision (faults, jitter). Setting a config
    /// reseeds it, so the same config and the same request sequence give the same faults.
    pub fault_seed: u64,
    /// Share writes to these entities are refused with the given status instead of being
    /// applied (once past faults, authentication and body validation). For tests of
    /// refusals the rules cannot produce on their own, such as the last-owner refusal (409
    /// or 422) of a write the client checked keeps an owner. Empty by default.
    pub force_status: Vec<ForcedStatus>,
    /// Live prediction traffic: every `deployments/` read in the default order (last
    /// prediction time, contract C3) finds the order moved since the read before, so offset
    /// paging in that order skips and repeats deployments. Off by default.
    pub prediction_traffic: bool,
    /// Short pages that are not the last (contract C14): every second page of a paginated
    /// read holds half the items asked for, and its `next` goes on from the last item it
    /// held. Off by default.
    pub ragged_pages: bool,
    /// Group and organization entries in accessControl reads too. The accessControl item
    /// schemas name user fields only, but one route's text mentions groups and
    /// organizations (contract C6); off by default, sharedRoles reads always carry them.
    pub access_control_principals: bool,
    /// The variant of contract C1 the sources do not show: `externalDataSources/` and
    /// `externalDataStores/` without `type` list every type, connectors included. Off by
    /// default (JDBC only, as the sources say).
    pub type_default_all: bool,
    /// At most this many API requests in service at once; the rest wait in a queue (first
    /// come, first served) before their service (`latency_ms` + jitter) begins, so latency
    /// grows with load as on a saturated server. `None` (default): no limit.
    pub capacity: Option<usize>,
    /// Whether a share may remove the access of a deactivated user (contract §11: users
    /// who were deactivated stay in access lists with their role; whether a share may
    /// revoke them is not documented, so a tool must handle both). `allow` (default)
    /// removes it; `refuse` refuses the whole request with `inactive_revoke_status` and a
    /// message naming those users. Giving an inactive user any role, a lower one included,
    /// is refused either way (rule R4); a replacing write (`replace_semantics`) may restate
    /// the role they hold, since it must carry every entry it keeps.
    pub inactive_revoke: InactiveRevokeKind,
    /// Status of a write refused by `inactive_revoke: refuse`: 400, 409 or 422 (default).
    pub inactive_revoke_status: u16,
    /// The reading of contract C20 the sources leave open: `catalogItems/`'s
    /// `ownerUserId`/`ownerUsername` filters and a use case's `owners` name only the
    /// creator, not every user with the OWNER role. Off by default (they name every
    /// owner); the access lists say who owns what either way.
    pub owner_hints_creator_only: bool,
    /// Kinds whose updateRoles PATCH replaces the whole access list with the one sent
    /// (users, groups, organizations, roles: whatever is not named loses its access);
    /// the others set only the recipients named. Default: workloads, artifacts and
    /// artifact repositories, as the Workload API documents (contract §12.1). Rule R1 holds
    /// on the resulting list either way.
    pub replace_semantics: Vec<EntityKind>,
    /// Kinds whose list shows an org administrator only what they hold a role on (created
    /// or were given), like a non-administrator's; the others show an administrator every
    /// entity. Whether an administrator sees others' entities of the §12 types is not
    /// documented (§12.1 "Visibility"). Empty by default.
    pub admin_list_own_only: Vec<EntityKind>,
    /// Non-user recipients besides groups and organizations: `externalApplication` entries
    /// on X2–X9 and `role` entries on X10–X12 (§12.1). Off: reads do not show them, a write
    /// may not name them, and a replacing write leaves them as they are. On by default.
    pub extra_recipients: bool,
    /// Unknown body fields (`canShare`, `name`, `sendNotification`, …) refused with 422 on
    /// the Workload API's share routes (`additionalProperties: false`, §12.1 X10). On by
    /// default.
    pub workload_strict_bodies: bool,
    /// `customJobs/` refuses a list request without `offset` and `limit` (the reference marks
    /// both required, §12.1 X4; the Python client's `Job.list()` sends neither). Off by
    /// default.
    pub custom_jobs_require_paging: bool,
    /// What a Workload API list does with a `limit` above 100 (§12.1 X10–X12): refuse it
    /// (422, the default) or cut it to 100.
    pub workload_limit_over_max: LimitOverMaxKind,
    /// The §12 kinds' reads name the editor and consumer levels `USER` and `OBSERVER`, as
    /// their generated request texts do (contract C9, §12.1 X1, X8), instead of each
    /// kind's own names. Off by default.
    pub observer_role_names: bool,
    /// Kinds whose list route does not exist (an older DataRobot): the list answers 404;
    /// get-one and the access list still answer. Empty by default.
    pub absent_lists: Vec<EntityKind>,
}

/// What a Workload API list does with a `limit` above its maximum (see
/// [`SimConfig::workload_limit_over_max`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitOverMaxKind {
    /// 422 naming `limit`.
    #[default]
    Refuse,
    /// The limit is cut to the maximum.
    Clamp,
}

/// The kinds that replace by default (contract §12.1 X10–X12).
pub fn default_replace_kinds() -> Vec<EntityKind> {
    EntityKind::ALL
        .into_iter()
        .filter(|k| k.facts().replace_by_default)
        .collect()
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            role_vocab: RoleVocabKind::Specific,
            last_owner_status: 409,
            calendar_share_status: 204,
            list_page_default: 100,
            list_page_max: 1000,
            acl_page_default: 100,
            acl_page_max: 1000,
            rate_limit: None,
            latency_ms: 0,
            jitter_ms: 0,
            fault_rate_5xx: 0.0,
            drop_rate: 0.0,
            commit_then_502_rate: 0.0,
            fault_seed: 0,
            force_status: Vec::new(),
            prediction_traffic: false,
            ragged_pages: false,
            access_control_principals: false,
            type_default_all: false,
            capacity: None,
            inactive_revoke: InactiveRevokeKind::Allow,
            inactive_revoke_status: 422,
            replace_semantics: default_replace_kinds(),
            admin_list_own_only: Vec::new(),
            extra_recipients: true,
            workload_strict_bodies: true,
            custom_jobs_require_paging: false,
            workload_limit_over_max: LimitOverMaxKind::Refuse,
            observer_role_names: false,
            absent_lists: Vec::new(),
            owner_hints_creator_only: false,
        }
    }
}

/// Whether a share may remove a deactivated user's access (see
/// [`SimConfig::inactive_revoke`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveRevokeKind {
    /// The revoke is applied like any other.
    #[default]
    Allow,
    /// The whole request is refused, nothing applied.
    Refuse,
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second per token.
    pub per_second: f64,
    /// Bucket size: how many requests may come at once after a quiet spell.
    pub burst: u32,
    /// The `Retry-After` a 429 carries, in whole seconds. 0 means "the time until the
    /// bucket holds a token again, rounded up" (at least 1).
    #[serde(default)]
    pub retry_after_secs: u64,
}

/// A status every share write to one entity is refused with (see
/// [`SimConfig::force_status`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForcedStatus {
    /// The entity's kind.
    pub kind: EntityKind,
    /// The entity's id.
    pub id: String,
    /// A 4xx or 5xx status. 409 and 422 answer with the last-owner refusal (rule R1).
    pub status: u16,
    /// What is refused: share writes (the default), or the entity's access-list reads once
    /// a write to it has been applied (a read-back that fails after an accepted write).
    #[serde(default)]
    pub on: ForcedOn,
}

/// Which requests a [`ForcedStatus`] refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForcedOn {
    /// Share writes.
    #[default]
    Write,
    /// Access-list reads after the first applied write.
    ReadAfterWrite,
}

impl SimConfig {
    /// The status writes to an entity are forced to, if any.
    pub(crate) fn forced_status(&self, kind: EntityKind, id: &str, on: ForcedOn) -> Option<u16> {
        self.force_status
            .iter()
            .find(|f| f.kind == kind && f.id == id && f.on == on)
            .map(|f| f.status)
    }

    /// Checks that every knob has a value the simulator can play.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: &str| Err(SimError::InvalidConfig(what.to_string()));
        if !matches!(self.last_owner_status, 409 | 422) {
            return bad("last_owner_status must be 409 or 422");
        }
        if !matches!(self.inactive_revoke_status, 400 | 409 | 422) {
            return bad("inactive_revoke_status must be 400, 409 or 422");
        }
        if !matches!(self.calendar_share_status, 200 | 204) {
            return bad("calendar_share_status must be 200 or 204");
        }
        if self.list_page_default == 0 || self.list_page_default > self.list_page_max {
            return bad("list_page_default must be between 1 and list_page_max");
        }
        if self.acl_page_default == 0 || self.acl_page_default > self.acl_page_max {
            return bad("acl_page_default must be between 1 and acl_page_max");
        }
        for (name, rate) in [
            ("fault_rate_5xx", self.fault_rate_5xx),
            ("drop_rate", self.drop_rate),
            ("commit_then_502_rate", self.commit_then_502_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(&format!("{name} must be between 0 and 1"));
            }
        }
        if self.fault_rate_5xx + self.drop_rate > 1.0 {
            return bad("fault_rate_5xx + drop_rate must not exceed 1");
        }
        if self
            .force_status
            .iter()
            .any(|f| !(400..=599).contains(&f.status))
        {
            return bad("force_status statuses must be 4xx or 5xx");
        }
        if let Some(k) = self.replace_semantics.iter().find(|k| !k.writable()) {
            return bad(&format!(
                "replace_semantics: {k} has no write route (contract §12.2)"
            ));
        }
        if self.capacity == Some(0) {
            return bad("capacity must be at least 1");
        }
        if let Some(rl) = &self.rate_limit {
            if !(rl.per_second.is_finite() && rl.per_second > 0.0) {
                return bad("rate_limit.per_second must be a positive number");
            }
            if rl.burst == 0 {
                return bad("rate_limit.burst must be at least 1");
            }
        }
        Ok(())
    }

    /// Whether a PATCH of `kind` replaces its whole access list.
    pub(crate) fn replaces(&self, kind: EntityKind) -> bool {
        self.replace_semantics.contains(&kind)
    }

    /// Whether any random fault or jitter is on, i.e. whether a request needs the RNG.
    pub(crate) fn needs_rng(&self) -> bool {
        self.fault_rate_5xx > 0.0
            || self.drop_rate > 0.0
            || self.commit_then_502_rate > 0.0
            || self.jitter_ms > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_partial_json_fills_in_defaults() {
        SimConfig::default().validate().unwrap();
        let c: SimConfig = serde_json::from_str(r#"{"last_owner_status":422}"#).unwrap();
        assert_eq!(c.last_owner_status, 422);
        assert_eq!(c.acl_page_default, 100);
        c.validate().unwrap();
    }

    #[test]
    fn out_of_range_knobs_are_refused() {
        let c = SimConfig {
            drop_rate: 1.5,
            ..SimConfig::default()
        };
        assert!(c.validate().is_err());
        let c = SimConfig {
            last_owner_status: 400,
            ..SimConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(serde_json::from_str::<SimConfig>(r#"{"nope":1}"#).is_err());
        let c: SimConfig =
            serde_json::from_str(r#"{"inactive_revoke":"refuse","inactive_revoke_status":403}"#)
                .unwrap();
        assert_eq!(c.inactive_revoke, InactiveRevokeKind::Refuse);
        assert!(c.validate().is_err());
        let c: SimConfig =
            serde_json::from_str(r#"{"force_status":[{"kind":"project","id":"p1","status":204}]}"#)
                .unwrap();
        assert!(c.validate().is_err());
    }
}
