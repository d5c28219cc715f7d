//! What the executor does when the server will not remove an inactive user's access.
//!
//! Users who were deactivated stay in access lists with their role, and whether a share
//! may revoke them is not documented (contract §11): a server may refuse the whole
//! request. Offboarding usually comes after the account was deactivated, so that request
//! is the common one: the successor's OWNER and the departing user's revoke, together.
//!
//! When a write is refused (a 4xx of the refusal class, [`is_refusal`]) and it removes or
//! lowers the access of users ([`lowering`]) whom `users/` reports inactive ([`Activity`];
//! or, where the caller may not look users up, whom the server's message names), the
//! executor sends the request once more in the same entity's turn, without those users'
//! changes ([`without`]) and with every other change, so the new owner is in place; the
//! entity is recorded `partial`, with the server's words ([`note`]). It never does so when
//! what is left would leave the entity without an owner, and it drops no grant: nobody's
//! access changes but as the plan says. A request that asked nothing but those users'
//! removal (an offboarding's revoke-only entry) has nothing left to send: the entity is
//! recorded `partial` at once, with the server's words.
//!
//! The server's wording is unknown, so the decision does not depend on it: the lookup is
//! the evidence, and a message that names the user only stands in where the lookup is
//! refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::api::{ApiError, Client, ErrorClass};
use crate::model::{Grant, Role};
use crate::plan::{Change, ShareRequest, same_principal};

use super::drift::principal;

/// Whether `e` is the server refusing a write under one of its rules: a 4xx that is not
/// authentication (401), permission (403), absence (404, 410) or a retryable one (408,
/// 413, 429), and not a request the client itself refused to send.
pub(crate) fn is_refusal(e: &ApiError) -> bool {
    e.class() == ErrorClass::Refused
        && e.status()
            .is_some_and(|s| (400..500).contains(&s) && s != 413)
}

/// The indexes of the changes of `request` that take a user's access away on `live` (a
/// revoke of someone who holds a role) or lower it (a role below the one held).
pub(crate) fn lowering(live: &[Grant], request: &ShareRequest) -> Vec<usize> {
    request
        .changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.recipient_type.eq_ignore_ascii_case("user"))
        .filter(|(_, c)| {
            let who = principal(c);
            let held = live
                .iter()
                .find(|g| same_principal(g, &who))
                .map(|g| g.role);
            match (c.role, held) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(role), Some(held)) => role < held,
            }
        })
        .map(|(i, _)| i)
        .collect()
}

/// `request` without the changes at `dropped` (indexes into its changes).
pub(crate) fn without(request: &ShareRequest, dropped: &[usize]) -> ShareRequest {
    ShareRequest {
        changes: request
            .changes
            .iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, c)| c.clone())
            .collect(),
        notify: request.notify,
    }
}

/// `changes` without those naming one of `users`.
pub(crate) fn not_naming(changes: &[Change], users: &[&Change]) -> Vec<Change> {
    changes
        .iter()
        .filter(|c| {
            let who = principal(c);
            !users.iter().any(|u| same_principal(&principal(u), &who))
        })
        .cloned()
        .collect()
}

/// The outcome's text for an entity left `partial`: what is in place, who keeps access,
/// and the server's words (`refusal`).
pub(crate) fn note(kept: &[Change], dropped: &[&Change], refusal: &ApiError) -> String {
    let names: Vec<&str> = dropped.iter().map(|c| c.name.as_str()).collect();
    let in_place = if kept.iter().any(|c| c.role == Some(Role::Owner)) {
        "the new owner is in place"
    } else if kept.is_empty() {
        "nothing else was planned"
    } else {
        "the other changes are in place"
    };
    let what = match (
        dropped.iter().all(|c| c.role.is_none()),
        dropped.iter().all(|c| c.role.is_some()),
    ) {
        (true, _) => "remove the access of",
        (_, true) => "lower the role of",
        _ => "remove or lower the access of",
    };
    let users = if names.len() == 1 { "user" } else { "users" };
    let words = match (refusal.status(), refusal.message()) {
        (Some(status), Some(message)) => format!("{status}: {message}"),
        (Some(status), None) => format!("{status}, no message"),
        _ => refusal.to_string(),
    };
    format!(
        "{in_place}; the server would not {what} inactive {users} {} ({words}), so they keep it",
        names.join(", ")
    )
}

/// Whether users are active, as `users/` says, looked up at most once per user per run
/// (and not at all once `users/` refused the caller): the executor's evidence that a
/// refusal is about an inactive user. Shared by every worker of a run.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    users: Mutex<HashMap<String, Arc<OnceCell<Option<bool>>>>>,
    /// `users/` answered 403: the caller is not an organization administrator.
    refused: AtomicBool,
}

impl Activity {
    /// Whether the user `change` names is active: `None` when it cannot be told (no such
    /// user, a server that does not say, a lookup refused or failed).
    pub(crate) async fn active(&self, client: &Client, change: &Change) -> Option<bool> {
        if self.refused.load(Ordering::Relaxed) {
            return None;
        }
        let key = match (&change.id, change.name.is_empty()) {
            (_, false) => format!("name:{}", change.name.to_lowercase()),
            (Some(id), true) => format!("id:{}", id.to_lowercase()),
            (None, true) => return None,
        };
        let cell = {
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            users.entry(key).or_default().clone()
        };
        *cell
            .get_or_init(|| async {
                let found = match (change.name.is_empty(), &change.id) {
                    (false, _) => client.find_user(&change.name).await,
                    (true, Some(id)) => client.user_by_id(id).await,
                    (true, None) => return None,
                };
                match found {
                    Ok(user) => user.and_then(|u| u.active),
                    Err(e) => {
                        if e.class() == ErrorClass::NotAllowed {
                            self.refused.store(true, Ordering::Relaxed);
                        }
                        tracing::info!(user = %change.name, error = %e, "cannot tell whether the user is active");
                        None
                    }
                }
            })
            .await
    }

    /// Which of `candidates` (indexes into `request`'s changes) name an inactive user:
    /// those `users/` reports inactive; where it cannot tell, those the refusal's message
    /// names (by username or id). A user it reports active is never one.
    pub(crate) async fn inactive_among(
        &self,
        client: &Client,
        refusal: &ApiError,
        request: &ShareRequest,
        candidates: &[usize],
    ) -> Vec<usize> {
        let message = refusal.message().unwrap_or_default().to_lowercase();
        let named = |c: &Change| {
            (!c.name.is_empty() && message.contains(&c.name.to_lowercase()))
                || c.id
                    .as_deref()
                    .is_some_and(|id| !id.is_empty() && message.contains(&id.to_lowercase()))
        };
        let mut out = Vec::new();
        for &i in candidates {
            let change = &request.changes[i];
            let inactive = match self.active(client, change).await {
                Some(active) => !active,
                None => named(change),
            };
            if inactive {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiErrorKind;

    fn g(name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: "user".into(),
            id: None,
            name: name.into(),
            role,
            can_share: None,
        }
    }

    fn c(name: &str, role: Option<Role>) -> Change {
        Change {
            recipient_type: "user".into(),
            id: None,
            name: name.into(),
            role,
            can_share: None,
        }
    }

    fn refused(status: u16, message: &str) -> ApiError {
        ApiError::new(
            "PATCH",
            "/api/v2/projects/p/accessControl/",
            ApiErrorKind::Status {
                status,
                message: Some(message.into()),
                request_id: None,
                retry_after: None,
            },
        )
    }

    #[test]
    fn lowering_finds_revokes_and_demotions_of_holders_only() {
        let live = vec![
            g("alice", Role::Owner),
            g("carol", Role::Editor),
            g("dan", Role::Consumer),
        ];
        let request = ShareRequest {
            changes: vec![
                c("bob", Some(Role::Owner)),
                c("alice", None),
                c("carol", Some(Role::Consumer)),
                c("dan", Some(Role::Editor)),
                c("erin", None),
            ],
            notify: false,
        };
        assert_eq!(lowering(&live, &request), vec![1, 2]);
        let reduced = without(&request, &[1, 2]);
        let names: Vec<&str> = reduced.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bob", "dan", "erin"]);
    }

    #[test]
    fn only_rule_refusals_qualify() {
        for status in [400, 409, 422] {
            assert!(is_refusal(&refused(status, "no")), "{status}");
        }
        for status in [401, 403, 404, 413, 429, 500] {
            assert!(!is_refusal(&refused(status, "no")), "{status}");
        }
    }

    fn client_for(sim: &crate::sim::SimHandle, token: &str) -> Client {
        let settings = crate::api::config::ConnSettings::new(
            &sim.endpoint(),
            crate::secret::Token::new(token),
            false,
        )
        .unwrap();
        Client::new(settings, crate::api::ClientPolicy::default()).unwrap()
    }

    /// `users/` decides: a user it reports active is never taken for inactive, even when
    /// the refusal names them; only where the caller may not look users up does the
    /// message decide, and then `users/` is asked once.
    #[tokio::test]
    async fn the_lookup_decides_and_the_message_stands_in_for_it() {
        use crate::sim::{
            DEFAULT_ADMIN_TOKEN, GenSpec, INACTIVE_USERNAME, SUCCESSOR_USERNAME, Seed, Sim,
            SimConfig, default_token,
        };
        let seed = Seed::generate(&GenSpec::uniform(3, 1));
        let sim = Sim::start("127.0.0.1:0".parse().unwrap(), seed, SimConfig::default()).unwrap();
        let request = ShareRequest {
            changes: vec![
                c(SUCCESSOR_USERNAME, None),
                c(INACTIVE_USERNAME, None),
                c("user1@acme.test", None),
            ],
            notify: false,
        };
        let names_two = refused(
            422,
            &format!("not allowed: {SUCCESSOR_USERNAME}, {INACTIVE_USERNAME}"),
        );
        let admin = Activity::default();
        let client = client_for(&sim, DEFAULT_ADMIN_TOKEN);
        let found = admin
            .inactive_among(&client, &names_two, &request, &[0, 1, 2])
            .await;
        assert_eq!(found, [1]);
        // Asked again: answered from what this run looked up.
        let users = |sim: &crate::sim::SimHandle| -> u64 {
            sim.stats().by_route["GET users/"].values().sum()
        };
        let asked = users(&sim);
        admin
            .inactive_among(&client, &names_two, &request, &[0, 1, 2])
            .await;
        assert_eq!(users(&sim), asked);

        // A caller who may not look users up: the message names the inactive ones.
        let other = Activity::default();
        let client = client_for(&sim, &default_token("user2@acme.test"));
        let found = other
            .inactive_among(&client, &names_two, &request, &[0, 1, 2])
            .await;
        assert_eq!(found, [0, 1]);
        assert_eq!(users(&sim), asked + 1);
        let silent = refused(422, "refused");
        assert!(
            other
                .inactive_among(&client, &silent, &request, &[0, 1, 2])
                .await
                .is_empty()
        );
    }

    #[test]
    fn the_note_says_what_is_in_place_and_quotes_the_server() {
        let kept = [c("bob", Some(Role::Owner))];
        let alice = c("alice", None);
        let text = note(&kept, &[&alice], &refused(422, "alice is not active"));
        assert_eq!(
            text,
            "the new owner is in place; the server would not remove the access of inactive \
             user alice (422: alice is not active), so they keep it"
        );
        let carol = c("carol", Some(Role::Consumer));
        let dave = c("dave", Some(Role::Editor));
        let text = note(&[dave], &[&alice, &carol], &refused(409, "no"));
        assert!(
            text.starts_with(
                "the other changes are in place; the server would not remove or lower the \
                 access of inactive users alice, carol (409: no)"
            ),
            "{text}"
        );
        // A revoke-only entry: nothing else was asked.
        let text = note(&[], &[&alice], &refused(422, "inactive"));
        assert_eq!(
            text,
            "nothing else was planned; the server would not remove the access of inactive \
             user alice (422: inactive), so they keep it"
        );
    }
}
