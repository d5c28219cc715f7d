//! Notebooks a departing user owns: read, never written (contract §12.2). DataRobot has no
//! route that shares a notebook by itself ("share the Use Case that holds them"), so a
//! notebook moves with its use case. An offboarding plan reports each one, with its use
//! case and whether that use case is in the plan, so that a reviewer sees what goes with
//! the handover and what stays behind.
//!
//! Pure: the planner's workflow reads `notebooks/` and their access lists and hands the
//! owned ones in; the plan writer resolves each use case against the entries it wrote.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::entry::ActionKind;

/// What the plan does with a notebook's use case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseCaseInPlan {
    /// The plan hands the use case over: the notebook goes with it.
    Change,
    /// The use case is in the plan, already at its target.
    Noop,
    /// The use case is in the plan, refused: the notebook stays where it is.
    Refused,
    /// The use case is not in the plan (the departing user does not own it, or it was
    /// left out): the notebook stays with them.
    NotInPlan,
    /// The notebook names no use case.
    NoUseCase,
}

impl UseCaseInPlan {
    /// From the action of the use case's entry, if the plan has one.
    pub fn of(action: Option<ActionKind>) -> UseCaseInPlan {
        match action {
            Some(ActionKind::Change) => UseCaseInPlan::Change,
            Some(ActionKind::Noop) => UseCaseInPlan::Noop,
            Some(ActionKind::Refused) => UseCaseInPlan::Refused,
            None => UseCaseInPlan::NotInPlan,
        }
    }

    /// Whether the notebook is taken care of by the plan (its use case moves, or is
    /// where it should be already).
    pub fn moves(self) -> bool {
        matches!(self, UseCaseInPlan::Change | UseCaseInPlan::Noop)
    }
}

/// A notebook one of the departing users owns, as the plan reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotebookNote {
    /// The notebook's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The departing users who own it.
    pub owners: Vec<String>,
    /// Its use case (`useCaseId`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case_id: Option<String>,
    /// What the plan does with that use case.
    pub use_case: UseCaseInPlan,
}

impl NotebookNote {
    /// A notebook the departing users own; `use_case` is resolved against the plan by
    /// [`PlanWriter::note_notebooks`](super::PlanWriter::note_notebooks).
    pub fn owned(
        id: impl Into<String>,
        name: impl Into<String>,
        owners: Vec<String>,
        use_case_id: Option<String>,
    ) -> NotebookNote {
        let use_case = if use_case_id.is_some() {
            UseCaseInPlan::NotInPlan
        } else {
            UseCaseInPlan::NoUseCase
        };
        NotebookNote {
            id: id.into(),
            name: name.into(),
            owners,
            use_case_id,
            use_case,
        }
    }

    /// What happens to it, in words: the review CSV's `reason` and the plan's output.
    pub fn what_happens(&self) -> String {
        let uc = self.use_case_id.as_deref().unwrap_or("");
        match self.use_case {
            UseCaseInPlan::Change => {
                format!("moves with its use case {uc}, which this plan hands over")
            }
            UseCaseInPlan::Noop => {
                format!("its use case {uc} is in this plan, already at its target")
            }
            UseCaseInPlan::Refused => format!(
                "its use case {uc} is in this plan but refused: the notebook stays where it is"
            ),
            UseCaseInPlan::NotInPlan => format!(
                "its use case {uc} is not in this plan: the notebook stays with its owner \
                 unless that use case is handed over"
            ),
            UseCaseInPlan::NoUseCase => "in no use case: a notebook cannot be shared by \
                                         itself, so it stays with its owner"
                .to_string(),
        }
    }
}

impl fmt::Display for NotebookNote {
    /// `nb1 "Churn EDA" (alice@x.com): moves with its use case uc1, …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} ({}): {}",
            self.id,
            self.name,
            self.owners.join(", "),
            self.what_happens()
        )
    }
}

/// The lines `plan` and `offboard` print after the coverage: every owned notebook, and
/// how many stay behind. Empty when there are none.
pub fn render(notes: &[NotebookNote]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let staying = notes.iter().filter(|n| !n.use_case.moves()).count();
    let mut out = format!(
        "notebooks owned (read only: a notebook moves with its use case): {}, {} of them \
         not moved by this plan\n",
        notes.len(),
        staying
    );
    for n in notes {
        out.push_str(&format!("  {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_use_case_state_says_what_happens_to_the_notebook() {
        let mut n = NotebookNote::owned("nb1", "EDA", vec!["alice".into()], Some("uc1".into()));
        assert_eq!(n.use_case, UseCaseInPlan::NotInPlan);
        n.use_case = UseCaseInPlan::of(Some(ActionKind::Change));
        assert!(n.use_case.moves());
        assert_eq!(
            n.to_string(),
            "nb1 \"EDA\" (alice): moves with its use case uc1, which this plan hands over"
        );
        n.use_case = UseCaseInPlan::of(Some(ActionKind::Refused));
        assert!(!n.use_case.moves());
        assert!(n.what_happens().contains("refused"));
        let lone = NotebookNote::owned("nb2", "x", vec!["alice".into()], None);
        assert_eq!(lone.use_case, UseCaseInPlan::NoUseCase);
        let text = render(&[n, lone]);
        assert!(text.starts_with("notebooks owned (read only"), "{text}");
        assert!(text.contains(": 2, 2 of them not moved"), "{text}");
        assert_eq!(render(&[]), "");
    }
}
