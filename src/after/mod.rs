//! What comes after a run (checking it and undoing it), and the stock-taking before one.
//!
//! - [`verify`]: live access lists against a plan or a journal, and the residual (what the
//!   departing users still hold, listed with the planner's rules);
//! - [`inventory`]: who owns what, for every entity the caller can see, with the orphans
//!   (entities whose every owner is deactivated);
//! - [`rollback`]: a journal → a plan that puts back what its run changed → the executor,
//!   with a journal of its own;
//! - [`html`]: self-contained HTML pages for people, the inventory's and a run's
//!   ([`run_view`] gathers a run's page from its journal and plan).

pub mod html;
pub mod inventory;
pub mod rollback;
pub mod run_view;
pub mod verify;
