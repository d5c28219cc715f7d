//! The one request that takes an entity from its current access list to its target.

use serde::{Deserialize, Serialize};

use crate::model::{EntityKind, Grant, Role};

/// Every change to one entity's access list, sent as ONE write: grants and revokes
/// together, so that a transfer of ownership is never half done (contract §7 R1, §9).
///
/// The client (`api::share_body`) turns this into the dialect's body: `data`/`users` with
/// `role: null` for accessControl, `updateRoles` with `NO_ROLE` for sharedRoles, and
/// `sendNotification` for projects.
///
/// Serialised snake_case: `{"changes":[…],"notify":false}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRequest {
    /// One entry per principal whose role or `can_share` changes; never two for the same
    /// principal (contract §7 R2).
    pub changes: Vec<Change>,
    /// Whether recipients should be e-mailed. Only projects can be told not to
    /// ([`EntityKind::suppresses_notification`]); the planner always plans `false` and
    /// the command line may turn it on.
    pub notify: bool,
}

impl ShareRequest {
    /// The number of changes that are revokes.
    pub fn revokes(&self) -> usize {
        self.changes.iter().filter(|c| c.role.is_none()).count()
    }
}

/// One principal's new access, or its revocation.
///
/// Serialised snake_case; `role` is always present and `null` means revoke, as on the
/// accessControl wire: `{"recipient_type":"user","id":"5f…","name":"a@x.com","role":null}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `user`, `group`, `organization` or `externalApplication`.
    pub recipient_type: String,
    /// The principal's id, when known. sharedRoles writes may name the recipient by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The username (users) or display name (groups, organizations).
    pub name: String,
    /// The new level; `None` revokes.
    pub role: Option<Role>,
    /// Whether the principal may share further; `None` leaves it to the server. Never set
    /// for kinds that do not carry it ([`EntityKind::supports_can_share`]) nor on revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_share: Option<bool>,
}

impl Change {
    /// The change that gives `grant`'s principal `grant`'s access on `kind`.
    pub fn grant(kind: EntityKind, grant: &Grant) -> Change {
        Change {
            recipient_type: grant.recipient_type.clone(),
            id: grant.id.clone(),
            name: grant.name.clone(),
            role: Some(grant.role),
            can_share: grant.can_share.filter(|_| kind.supports_can_share()),
        }
    }

    /// The change that removes `grant`'s principal.
    pub fn revoke(grant: &Grant) -> Change {
        Change {
            recipient_type: grant.recipient_type.clone(),
            id: grant.id.clone(),
            name: grant.name.clone(),
            role: None,
            can_share: None,
        }
    }
}
