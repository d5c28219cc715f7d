//! The edge where the tool meets its test oracle: conversions between handover's
//! vocabulary ([`crate::model`]) and the simulator's own ([`crate::sim`]).
//!
//! The simulator writes its entity kinds, roles and role vocabularies from the wire contract
//! itself, so that a wrong fact in one does not silently pass in the other. The two meet
//! only here, by name: every match is exhaustive, so a kind added on one side and not the
//! other does not compile. Nothing here converts a wire fact (a path, a role name), only
//! the identity of a kind or a level.

use crate::model::{EntityKind, Role, RoleVocabKind};
use crate::sim;

impl From<EntityKind> for sim::EntityKind {
    fn from(k: EntityKind) -> Self {
        match k {
            EntityKind::Project => sim::EntityKind::Project,
            EntityKind::Dataset => sim::EntityKind::Dataset,
            EntityKind::DataSource => sim::EntityKind::DataSource,
            EntityKind::DataStore => sim::EntityKind::DataStore,
            EntityKind::Calendar => sim::EntityKind::Calendar,
            EntityKind::Deployment => sim::EntityKind::Deployment,
            EntityKind::UseCase => sim::EntityKind::UseCase,
            EntityKind::RegisteredModel => sim::EntityKind::RegisteredModel,
            EntityKind::CustomModel => sim::EntityKind::CustomModel,
            EntityKind::CustomTask => sim::EntityKind::CustomTask,
            EntityKind::ExecutionEnvironment => sim::EntityKind::ExecutionEnvironment,
            EntityKind::File => sim::EntityKind::File,
            EntityKind::UserBlueprint => sim::EntityKind::UserBlueprint,
            EntityKind::Application => sim::EntityKind::Application,
            EntityKind::CustomApplication => sim::EntityKind::CustomApplication,
            EntityKind::CustomApplicationSource => sim::EntityKind::CustomApplicationSource,
            EntityKind::CustomJob => sim::EntityKind::CustomJob,
            EntityKind::SecureConfig => sim::EntityKind::SecureConfig,
            EntityKind::NotificationChannelTemplate => sim::EntityKind::NotificationChannelTemplate,
            EntityKind::NotificationPolicyTemplate => sim::EntityKind::NotificationPolicyTemplate,
            EntityKind::ComplianceDocTemplate => sim::EntityKind::ComplianceDocTemplate,
            EntityKind::ValueTracker => sim::EntityKind::ValueTracker,
            EntityKind::Workload => sim::EntityKind::Workload,
            EntityKind::Artifact => sim::EntityKind::Artifact,
            EntityKind::ArtifactRepository => sim::EntityKind::ArtifactRepository,
            EntityKind::ModelPackage => sim::EntityKind::ModelPackage,
            EntityKind::Notebook => sim::EntityKind::Notebook,
        }
    }
}

impl From<sim::EntityKind> for EntityKind {
    fn from(k: sim::EntityKind) -> Self {
        match k {
            sim::EntityKind::Project => EntityKind::Project,
            sim::EntityKind::Dataset => EntityKind::Dataset,
            sim::EntityKind::DataSource => EntityKind::DataSource,
            sim::EntityKind::DataStore => EntityKind::DataStore,
            sim::EntityKind::Calendar => EntityKind::Calendar,
            sim::EntityKind::Deployment => EntityKind::Deployment,
            sim::EntityKind::UseCase => EntityKind::UseCase,
            sim::EntityKind::RegisteredModel => EntityKind::RegisteredModel,
            sim::EntityKind::CustomModel => EntityKind::CustomModel,
            sim::EntityKind::CustomTask => EntityKind::CustomTask,
            sim::EntityKind::ExecutionEnvironment => EntityKind::ExecutionEnvironment,
            sim::EntityKind::File => EntityKind::File,
            sim::EntityKind::UserBlueprint => EntityKind::UserBlueprint,
            sim::EntityKind::Application => EntityKind::Application,
            sim::EntityKind::CustomApplication => EntityKind::CustomApplication,
            sim::EntityKind::CustomApplicationSource => EntityKind::CustomApplicationSource,
            sim::EntityKind::CustomJob => EntityKind::CustomJob,
            sim::EntityKind::SecureConfig => EntityKind::SecureConfig,
            sim::EntityKind::NotificationChannelTemplate => EntityKind::NotificationChannelTemplate,
            sim::EntityKind::NotificationPolicyTemplate => EntityKind::NotificationPolicyTemplate,
            sim::EntityKind::ComplianceDocTemplate => EntityKind::ComplianceDocTemplate,
            sim::EntityKind::ValueTracker => EntityKind::ValueTracker,
            sim::EntityKind::Workload => EntityKind::Workload,
            sim::EntityKind::Artifact => EntityKind::Artifact,
            sim::EntityKind::ArtifactRepository => EntityKind::ArtifactRepository,
            sim::EntityKind::ModelPackage => EntityKind::ModelPackage,
            sim::EntityKind::Notebook => EntityKind::Notebook,
        }
    }
}

impl PartialEq<sim::EntityKind> for EntityKind {
    fn eq(&self, other: &sim::EntityKind) -> bool {
        sim::EntityKind::from(*self) == *other
    }
}

impl PartialEq<EntityKind> for sim::EntityKind {
    fn eq(&self, other: &EntityKind) -> bool {
        *self == sim::EntityKind::from(*other)
    }
}

impl From<Role> for sim::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Consumer => sim::Role::Consumer,
            Role::Editor => sim::Role::Editor,
            Role::Owner => sim::Role::Owner,
        }
    }
}

impl From<sim::Role> for Role {
    fn from(r: sim::Role) -> Self {
        match r {
            sim::Role::Consumer => Role::Consumer,
            sim::Role::Editor => Role::Editor,
            sim::Role::Owner => Role::Owner,
        }
    }
}

impl PartialEq<sim::Role> for Role {
    fn eq(&self, other: &sim::Role) -> bool {
        sim::Role::from(*self) == *other
    }
}

impl PartialEq<Role> for sim::Role {
    fn eq(&self, other: &Role) -> bool {
        *self == sim::Role::from(*other)
    }
}

impl From<RoleVocabKind> for sim::RoleVocabKind {
    fn from(v: RoleVocabKind) -> Self {
        match v {
            RoleVocabKind::Specific => sim::RoleVocabKind::Specific,
            RoleVocabKind::Generic => sim::RoleVocabKind::Generic,
        }
    }
}

impl From<sim::RoleVocabKind> for RoleVocabKind {
    fn from(v: sim::RoleVocabKind) -> Self {
        match v {
            sim::RoleVocabKind::Specific => RoleVocabKind::Specific,
            sim::RoleVocabKind::Generic => RoleVocabKind::Generic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_list_the_same_kinds_in_the_same_order() {
        assert_eq!(EntityKind::ALL.len(), sim::EntityKind::ALL.len());
        for (ours, theirs) in EntityKind::ALL.into_iter().zip(sim::EntityKind::ALL) {
            assert!(ours == theirs, "{ours} / {theirs}");
        }
    }

    #[test]
    fn kinds_and_levels_round_trip_and_keep_their_names() {
        for kind in EntityKind::ALL {
            let theirs = sim::EntityKind::from(kind);
            assert_eq!(EntityKind::from(theirs), kind);
            assert!(kind == theirs);
            assert!(theirs == kind);
            // The same kind by the same name in plans and in seeds.
            assert_eq!(kind.as_str(), theirs.as_str());
        }
        for role in Role::ALL {
            assert_eq!(Role::from(sim::Role::from(role)), role);
        }
    }
}
