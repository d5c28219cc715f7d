//! Orphans: entities whose every owner is a deactivated account. DataRobot keeps a
//! deactivated user's entities and their access lists as they were (contract §11, last
//! paragraph), so an entity owned only by people who left is owned by nobody who can act
//! on it. `inventory` counts them and `plan --orphans` gives them a new owner.
//!
//! Whether an entity is an orphan is told from its access list and the organization's
//! users (`users/`, which says who is active), never guessed: an owner whose state is not
//! known, a group or organization that owns it, or an entry that could not be read makes
//! it not an orphan, or [`Ownership::Unknown`].

use std::collections::HashSet;

use crate::api::User;
use crate::model::{AccessList, Grant, Role};
use crate::plan::UserIdent;

/// The deactivated accounts of an organization, as `users/` lists them.
#[derive(Clone, Debug, Default)]
pub struct Deactivated {
    ids: HashSet<String>,
    names: HashSet<String>,
    users: Vec<UserIdent>,
}

impl Deactivated {
    /// The users whose account the server says is not active. A user the server says
    /// nothing about is not counted as deactivated.
    pub fn from_users<'a>(users: impl IntoIterator<Item = &'a User>) -> Deactivated {
        let mut out = Deactivated::default();
        for user in users.into_iter().filter(|u| u.active == Some(false)) {
            out.ids.insert(user.id.to_ascii_lowercase());
            out.names.insert(user.username.to_lowercase());
            out.users.push(UserIdent {
                id: user.id.clone(),
                username: user.username.clone(),
            });
        }
        out.users.sort_by_key(|u| u.username.to_lowercase());
        out
    }

    /// Whether `grant` is a deactivated user's entry, by id when it has one, else by name.
    pub fn holds(&self, grant: &Grant) -> bool {
        if !grant.is_user() {
            return false;
        }
        match &grant.id {
            Some(id) if !id.is_empty() => self.ids.contains(&id.to_ascii_lowercase()),
            _ => self.names.contains(&grant.name.to_lowercase()),
        }
    }

    /// Every deactivated user, by username.
    pub fn users(&self) -> &[UserIdent] {
        &self.users
    }

    /// Whether there is nobody deactivated.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Who owns an entity, as far as orphans go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// At least one owner, and every owner is a deactivated user.
    Orphan,
    /// Someone who can act owns it: an active user (or one whose state is unknown), a
    /// group or an organization.
    Owned,
    /// Every owner that could be read is deactivated (or there is none), but the list holds
    /// entries that could not be read, or no owner at all: whether it is an orphan cannot
    /// be told. The reason says why.
    Unknown(String),
}

/// Tells whether the entity with access list `list` is an orphan, `deactivated` being the
/// organization's deactivated users.
pub fn ownership(list: &AccessList, deactivated: &Deactivated) -> Ownership {
    let owners: Vec<&Grant> = list
        .grants
        .iter()
        .filter(|g| g.role == Role::Owner)
        .collect();
    if owners.iter().any(|g| !deactivated.holds(g)) {
        return Ownership::Owned;
    }
    if let Some(entry) = list.unreadable.first() {
        return Ownership::Unknown(format!(
            "cannot tell whether every owner is deactivated: cannot read the access list entry {entry}"
        ));
    }
    if owners.is_empty() {
        return Ownership::Unknown("the access list names no owner".to_string());
    }
    Ownership::Orphan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UnreadableEntry;

    fn user(id: &str, name: &str, active: Option<bool>) -> User {
        User {
            id: id.to_string(),
            username: name.to_string(),
            full_name: None,
            active,
        }
    }

    fn grant(kind: &str, id: Option<&str>, name: &str, role: Role) -> Grant {
        Grant {
            recipient_type: kind.to_string(),
            id: id.map(str::to_string),
            name: name.to_string(),
            role,
            can_share: None,
        }
    }

    fn gone() -> Deactivated {
        Deactivated::from_users(&[
            user("a1", "Gone@x.com", Some(false)),
            user("a2", "also-gone@x.com", Some(false)),
            user("b1", "here@x.com", Some(true)),
            user("c1", "unsaid@x.com", None),
        ])
    }

    fn list(grants: Vec<Grant>) -> AccessList {
        AccessList {
            role_names: Default::default(),
            grants,
            unreadable: Vec::new(),
        }
    }

    #[test]
    fn only_users_the_server_says_are_inactive_count() {
        let d = gone();
        let names: Vec<&str> = d.users().iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["also-gone@x.com", "Gone@x.com"]);
        assert!(d.holds(&grant("user", Some("A1"), "renamed", Role::Owner)));
        assert!(d.holds(&grant("user", None, "gone@X.com", Role::Owner)));
        assert!(!d.holds(&grant("user", Some("c1"), "unsaid@x.com", Role::Owner)));
        assert!(!d.holds(&grant("group", Some("a1"), "gone@x.com", Role::Owner)));
    }

    #[test]
    fn an_orphan_is_owned_by_deactivated_users_only() {
        let d = gone();
        let g = |id, name, role| grant("user", Some(id), name, role);
        let orphan = list(vec![
            g("a1", "gone@x.com", Role::Owner),
            g("a2", "also-gone@x.com", Role::Owner),
            g("b1", "here@x.com", Role::Editor),
        ]);
        assert_eq!(ownership(&orphan, &d), Ownership::Orphan);
        let co_owned = list(vec![
            g("a1", "gone@x.com", Role::Owner),
            g("b1", "here@x.com", Role::Owner),
        ]);
        assert_eq!(ownership(&co_owned, &d), Ownership::Owned);
        let unsaid = list(vec![
            g("a1", "gone@x.com", Role::Owner),
            g("c1", "unsaid@x.com", Role::Owner),
        ]);
        assert_eq!(ownership(&unsaid, &d), Ownership::Owned);
        let group = list(vec![
            g("a1", "gone@x.com", Role::Owner),
            grant("group", Some("g1"), "Data Science", Role::Owner),
        ]);
        assert_eq!(ownership(&group, &d), Ownership::Owned);
    }

    #[test]
    fn an_unreadable_entry_or_no_owner_cannot_be_told() {
        let d = gone();
        let mut l = list(vec![grant("user", Some("a1"), "gone@x.com", Role::Owner)]);
        l.unreadable.push(UnreadableEntry {
            recipient_type: Some("group".into()),
            id: None,
            name: Some("Admins".into()),
            role: Some("ADMIN".into()),
            reason: "unknown role \"ADMIN\"".into(),
        });
        assert!(matches!(ownership(&l, &d), Ownership::Unknown(r) if r.contains("Admins")));
        let nobody = list(vec![grant(
            "user",
            Some("b1"),
            "here@x.com",
            Role::Consumer,
        )]);
        assert!(matches!(ownership(&nobody, &d), Ownership::Unknown(_)));
    }
}
