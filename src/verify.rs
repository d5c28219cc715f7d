//! Verification: re-reads the live access list of every entity a plan changes and reports
//! each one that is not at its target, judged only on the principals the plan touches (the
//! same rule the executor's read-back uses, [`exec::at_target`]).
//!
//! [`exec::at_target`]: crate::exec::at_target

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::api::{ApiError, Client, ErrorClass};
use crate::exec::at_target;
use crate::model::EntityKind;
use crate::plan::{ActionKind, PlanEntry};

/// One entity that is not where the plan wants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// What differs, principal by principal, or why the entity could not be read.
    pub problem: String,
}

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Entities whose live access list was checked.
    pub checked: u64,
    /// Those not at target.
    pub mismatches: Vec<Mismatch>,
}

impl Verdict {
    /// Whether every checked entity is at its target.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Checks every `change` and `noop` entry of a plan against the live server, `concurrency`
/// reads at a time through the client's rate limiter. Refused entries were never meant to
/// change and are not checked. A failure to read one entity is a mismatch; failures that
/// are not about one entity (auth, transport) stop the check.
pub async fn verify_entries(
    client: &Client,
    entries: impl IntoIterator<Item = PlanEntry>,
    concurrency: usize,
) -> Result<Verdict, ApiError> {
    let wanted = entries
        .into_iter()
        .filter(|e| matches!(e.action, ActionKind::Change | ActionKind::Noop));
    let mut reads = stream::iter(wanted)
        .map(|entry| async move {
            let live = client.access_list(entry.kind, &entry.id).await;
            (entry, live)
        })
        .buffer_unordered(concurrency.max(1));
    let mut verdict = Verdict::default();
    while let Some((entry, live)) = reads.next().await {
        verdict.checked += 1;
        let problem = match live {
            Ok(live) => {
                let changes = entry
                    .request
                    .as_ref()
                    .map(|r| r.changes.as_slice())
                    .unwrap_or_default();
                at_target(entry.kind, &live, changes).err()
            }
            Err(e) if matches!(e.class(), ErrorClass::Gone | ErrorClass::NotAllowed) => {
                Some(format!("cannot read the access list: {e}"))
            }
            Err(e) => return Err(e),
        };
        if let Some(problem) = problem {
            verdict.mismatches.push(Mismatch {
                kind: entry.kind,
                id: entry.id,
                name: entry.name,
                problem,
            });
        }
    }
    verdict
        .mismatches
        .sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(verdict)
}
