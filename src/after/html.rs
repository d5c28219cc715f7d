//! Self-contained HTML pages for people: the inventory (`inventory --html`) and a run
//! (`status --html`, and the `.html` report beside every run's CSV and JSON).
//!
//! A page is one file that needs nothing else: the CSS is inline, the bars are CSS widths
//! and inline SVG, there is no script at all, nothing is loaded from anywhere (a
//! `Content-Security-Policy` meta tag forbids it too, should a string ever slip through),
//! and it opens from disk in any browser without a network. Every string that came from
//! the server or a file (names, usernames, ids, reasons, paths) is HTML-escaped: names are
//! chosen by users and may hold markup.
//!
//! The pages are aggregate: counts per type and outcome, bars, the rate over time, and
//! capped lists (owners, orphans, failures) that say how many more there are. A run of
//! 100k entities gives a page of the same size as a run of 100.
//!
//! The views ([`InventoryView`], [`RunView`]) are plain data; [`inventory_page`] and
//! [`run_page`] are pure functions of them. [`RunView::from_journal`](super::run_view)
//! gathers a run's view from its journal and plan. Files are written like the reports:
//! owner-only (they name principals), atomically ([`PageFile`]).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::exit;
use crate::files::AtomicFile;
use crate::journal::{self, OutcomeKind};
use crate::plan;

/// What can go wrong making or writing a page.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The page file could not be written.
    #[error("cannot write page {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// The plan could not be read.
    #[error(transparent)]
    Plan(#[from] plan::Error),
}

impl Error {
    /// The exit code: an unreadable input is its own module's code, a failed write fatal.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Write { .. } => exit::FATAL,
            Error::Journal(e) => e.exit_code(),
            Error::Plan(e) => e.exit_code(),
        }
    }
}

/// A page file started before the work that fills it: its temporary file already exists
/// beside the final path, so an unwritable path fails first, before anything is read or
/// sent. Dropped without [`commit`](PageFile::commit), it leaves nothing behind.
pub struct PageFile {
    file: AtomicFile,
}

impl PageFile {
    /// Starts the page that will become `path` (owner-only). A directory is refused here,
    /// not at the rename.
    pub fn create(path: &Path) -> io::Result<PageFile> {
        if path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        Ok(PageFile {
            file: AtomicFile::create(path)?,
        })
    }

    /// The path the page gets on commit.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Writes `html` and renames the file into place.
    pub fn commit(mut self, html: &str) -> Result<(), Error> {
        let path = self.file.path().to_path_buf();
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        self.file.write_all(html.as_bytes()).map_err(err)?;
        self.file.commit().map_err(err)
    }
}

/// Writes `html` to `path`, owner-only and atomically.
pub fn write_page(path: &Path, html: &str) -> Result<(), Error> {
    PageFile::create(path)
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?
        .commit(html)
}

// ---------------------------------------------------------------------------------------
// The inventory.

/// What `handover inventory --html` shows: what exists, per type, who owns it, and what
/// nobody active owns. Plain data, built by the inventory command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryView {
    /// The page's heading, e.g. "Inventory"; never contains a token.
    pub title: String,
    /// The endpoint URL (no token).
    pub server: String,
    /// When the inventory was taken (RFC 3339).
    pub generated: String,
    /// Set when the inventory was limited with `--user`.
    pub user: Option<String>,
    /// One per entity type listed, in display order.
    pub by_type: Vec<TypeCounts>,
    /// Top owners, already sorted and capped.
    pub owners: Vec<OwnerCount>,
    /// Orphaned entities, capped; [`InventoryView::orphans_total`] says how many there are.
    pub orphans: Vec<OrphanRow>,
    /// Every orphaned entity, listed or not.
    pub orphans_total: u64,
    /// Coverage notes: what the listing could not see. Shown first, prominently.
    pub notes: Vec<String>,
}

/// One entity type's counts in an [`InventoryView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts {
    /// The type, e.g. `project` or `data_store`.
    pub kind: String,
    /// Entities listed.
    pub entities: u64,
    /// Of those, the orphaned.
    pub orphans: u64,
    /// Of those, the ones whose access list could not be read.
    pub unreadable: u64,
    /// Whether the type's access lists can only be read (model packages, notebooks).
    pub read_only: bool,
}

/// One owner in an [`InventoryView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerCount {
    pub username: String,
    /// Whether the account is active; `None`: unknown.
    pub active: Option<bool>,
    /// Entities they own.
    pub owned: u64,
}

/// One orphaned entity in an [`InventoryView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrphanRow {
    pub kind: String,
    pub id: String,
    pub name: String,
    /// The owners on record (none of them active), possibly none.
    pub owners: Vec<String>,
}

/// The inventory page: coverage notes first, then totals, a bar per type, the top
/// owners and the orphans.
pub fn inventory_page(view: &InventoryView) -> String {
    let mut b = String::new();
    let title = if view.title.is_empty() {
        "Inventory"
    } else {
        &view.title
    };
    header(&mut b, title, &view.server, &view.generated, None);
    if let Some(user) = &view.user {
        let _ = write!(
            b,
            "<p class=\"scope\">Limited to what <b>{}</b> owns or can access.</p>",
            esc(user)
        );
    }
    notes(&mut b, &view.notes);

    let entities: u64 = view.by_type.iter().map(|t| t.entities).sum();
    let unreadable: u64 = view.by_type.iter().map(|t| t.unreadable).sum();
    b.push_str("<section class=\"tiles\">");
    tile(&mut b, "entities", entities, "");
    tile(&mut b, "types listed", view.by_type.len() as u64, "");
    tile(
        &mut b,
        "orphaned",
        view.orphans_total,
        if view.orphans_total > 0 { "warn" } else { "" },
    );
    tile(
        &mut b,
        "unreadable access lists",
        unreadable,
        if unreadable > 0 { "muted" } else { "" },
    );
    b.push_str("</section>");

    // Per type: one bar each, scaled to the largest type.
    b.push_str("<section><h2>Entities per type</h2>");
    if view.by_type.is_empty() {
        b.push_str("<p class=\"empty\">No type was listed.</p>");
    } else {
        legend(
            &mut b,
            &[
                ("c-main", "owned by someone active"),
                ("c-orphan", "orphaned"),
                ("c-unread", "access list unreadable"),
            ],
        );
        let max = view.by_type.iter().map(|t| t.entities).max().unwrap_or(0);
        b.push_str(
            "<table class=\"bars\"><thead><tr><th>type</th><th class=\"barcol\"></th>\
             <th class=\"n\">entities</th><th class=\"n\">orphaned</th>\
             <th class=\"n\">unreadable</th></tr></thead><tbody>",
        );
        for t in &view.by_type {
            let orphans = t.orphans.min(t.entities);
            let unreadable = t.unreadable.min(t.entities - orphans);
            let rest = t.entities - orphans - unreadable;
            let _ = write!(
                b,
                "<tr><td>{}{}</td><td class=\"barcol\">",
                esc(&kind_label(&t.kind)),
                if t.read_only { " (read only)" } else { "" }
            );
            stacked_bar(
                &mut b,
                max,
                &[
                    ("c-main", rest, "owned by someone active"),
                    ("c-orphan", orphans, "orphaned"),
                    ("c-unread", unreadable, "access list unreadable"),
                ],
            );
            let _ = write!(
                b,
                "</td><td class=\"n\">{}</td><td class=\"n{}\">{}</td><td class=\"n{}\">{}</td></tr>",
                num(t.entities),
                if t.orphans > 0 { " warn" } else { " zero" },
                num(t.orphans),
                if t.unreadable > 0 { "" } else { " zero" },
                num(t.unreadable)
            );
        }
        let orphans: u64 = view.by_type.iter().map(|t| t.orphans).sum();
        let _ = write!(
            b,
            "</tbody><tfoot><tr><td>total</td><td></td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr></tfoot></table>",
            num(entities),
            num(orphans),
            num(unreadable)
        );
    }
    b.push_str("</section>");

    // Owners.
    b.push_str("<section><h2>Top owners</h2>");
    if view.owners.is_empty() {
        b.push_str("<p class=\"empty\">No owner was found.</p>");
    } else {
        let max = view.owners.iter().map(|o| o.owned).max().unwrap_or(0);
        b.push_str(
            "<table class=\"bars\"><thead><tr><th class=\"n\">#</th><th>owner</th>\
             <th>account</th><th class=\"barcol\"></th><th class=\"n\">owns</th></tr></thead><tbody>",
        );
        for (i, o) in view.owners.iter().enumerate() {
            let (class, label) = match o.active {
                Some(true) => ("ok", "active"),
                Some(false) => ("bad", "inactive"),
                None => ("unknown", "unknown"),
            };
            let _ = write!(
                b,
                "<tr><td class=\"n dim\">{}</td><td class=\"who\">{}</td>\
                 <td><span class=\"pill {class}\">{label}</span></td><td class=\"barcol\">",
                i + 1,
                esc(&o.username)
            );
            let bar_class = if o.active == Some(false) {
                "c-orphan"
            } else {
                "c-main"
            };
            stacked_bar(&mut b, max, &[(bar_class, o.owned, "owned")]);
            let _ = write!(b, "</td><td class=\"n\">{}</td></tr>", num(o.owned));
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");

    // Orphans.
    let _ = write!(
        b,
        "<section><h2>Orphaned entities <span class=\"count\">{}</span></h2>",
        num(view.orphans_total)
    );
    if view.orphans.is_empty() && view.orphans_total == 0 {
        b.push_str(
            "<p class=\"empty\">None: no entity listed is owned by deactivated accounts only.</p>",
        );
    } else {
        b.push_str(
            "<p class=\"hint\">Entities whose every owner is deactivated: nobody who can act \
             on them owns them. <code>handover plan --orphans --to USER</code> gives them an \
             owner.</p>",
        );
        b.push_str(
            "<table class=\"list\"><thead><tr><th>type</th><th>name</th><th>id</th>\
             <th>owners on record</th></tr></thead><tbody>",
        );
        for o in &view.orphans {
            let owners = if o.owners.is_empty() {
                "<span class=\"dim\">none</span>".to_string()
            } else {
                o.owners
                    .iter()
                    .map(|u| esc(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"id\">{}</td><td>{owners}</td></tr>",
                esc(&kind_label(&o.kind)),
                esc(&o.name),
                esc(&o.id)
            );
        }
        b.push_str("</tbody></table>");
        more(
            &mut b,
            view.orphans_total,
            view.orphans.len(),
            "orphaned entities",
        );
    }
    b.push_str("</section>");
    footer(&mut b);
    page(title, &view.server, &b)
}

// ---------------------------------------------------------------------------------------
// A run.

/// What a run's page shows: where it stands, its outcomes (all and per type), the rate
/// over time, and the failures. Built from a journal (and its plan) by
/// [`RunView::from_journal`](super::run_view), or by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunView {
    /// The page's heading: "Run report", "Run status".
    pub title: String,
    /// The endpoint URL the run wrote to.
    pub server: String,
    /// The journal's path.
    pub journal: String,
    /// The plan's path, as the journal records it.
    pub plan: String,
    /// `apply` or `rollback`.
    pub purpose: String,
    /// `finished`, `stopped` (resumable) or `running_or_died` (no end record yet).
    pub state: String,
    /// When the page was made (RFC 3339).
    pub generated: String,
    /// When the journal was created (RFC 3339).
    pub started: String,
    /// The time of the journal's last record: the end of the run when it finished.
    pub ended: Option<String>,
    /// How many times the run was resumed.
    pub resumes: u64,
    /// Entries in the plan, when the plan could be read.
    pub plan_entries: Option<u64>,
    /// Entries the journal does not mention yet (needs the plan).
    pub pending: Option<u64>,
    /// Entities written with no outcome yet.
    pub in_flight: u64,
    /// Entities per outcome, in [`OutcomeKind::ALL`] order, zeros included.
    pub outcomes: Vec<(OutcomeKind, u64)>,
    /// Per entity type, in the order of the types.
    pub by_type: Vec<TypeOutcomes>,
    /// Outcomes over time.
    pub timeline: Timeline,
    /// Entities that failed, drifted, were refused or are unconfirmed, capped.
    pub failures: Vec<FailureRow>,
    /// Every such entity, listed or not.
    pub failures_total: u64,
    /// What the departing users still hold as the run's record shows it, when the plan is
    /// an offboarding plan at hand; `None` otherwise.
    pub residual: Option<RunResidual>,
}

/// The residual of an offboarding run as its plan and journal show it: every entity the
/// plan meant to take something from (a handover, or a revoke-only entry) that the run did
/// not finish. The plan read every access list, so nothing else was held when it was made;
/// `handover verify` reads the live lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunResidual {
    /// The departing users.
    pub users: Vec<String>,
    /// Whether the plan keeps the roles they hold without owning (`--keep-other-access`).
    pub keep_other_access: bool,
    /// Refused when planned (the caller may not share it, an unreadable list, …).
    pub refused_in_plan: u64,
    /// Written and not at target: failed, drifted or refused by the server.
    pub not_done: u64,
    /// `partial`: the server would not remove inactive users' access.
    pub partial: u64,
    /// Not reached yet, or written with no outcome.
    pub not_reached: u64,
}

impl RunResidual {
    /// Entities where the departing users still hold what the plan meant to remove.
    pub fn total(&self) -> u64 {
        self.refused_in_plan + self.not_done + self.partial + self.not_reached
    }
}

impl RunView {
    /// Entities with `outcome`.
    pub fn count(&self, outcome: OutcomeKind) -> u64 {
        self.outcomes
            .iter()
            .find(|(o, _)| *o == outcome)
            .map_or(0, |(_, n)| *n)
    }
}

/// One entity type's outcomes in a [`RunView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeOutcomes {
    /// The type, e.g. `project`.
    pub kind: String,
    /// Entities per outcome, in [`OutcomeKind::ALL`] order.
    pub outcomes: [u64; OutcomeKind::ALL.len()],
    /// Written, no outcome yet.
    pub in_flight: u64,
    /// Not reached yet (needs the plan; 0 without it).
    pub pending: u64,
}

impl TypeOutcomes {
    /// Every entity of the type, pending included.
    pub fn total(&self) -> u64 {
        self.outcomes.iter().sum::<u64>() + self.in_flight + self.pending
    }
}

/// Outcomes per time bucket, from the `at` of the journal's outcome records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// When the first bucket starts (RFC 3339): the journal's creation.
    pub start: String,
    /// Each bucket's width in milliseconds.
    pub bucket_ms: u64,
    /// In time order, from `start`, up to the journal's last record.
    pub buckets: Vec<RateBucket>,
    /// Where the run was resumed, in milliseconds from `start`.
    pub resumes: Vec<u64>,
}

/// The outcomes recorded in one time bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateBucket {
    /// Succeeded or already done.
    pub done: u64,
    /// Failed, drifted, refused or unconfirmed.
    pub failed: u64,
    /// Skipped.
    pub skipped: u64,
}

impl RateBucket {
    /// Every outcome in the bucket.
    pub fn total(&self) -> u64 {
        self.done + self.failed + self.skipped
    }
}

/// One failure in a [`RunView`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureRow {
    pub kind: String,
    pub id: String,
    /// From the plan; empty when the plan was not read.
    pub name: String,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub reason: Option<String>,
}

/// The CSS class (and so the colour) of each outcome, in [`OutcomeKind::ALL`] order.
fn outcome_class(outcome: OutcomeKind) -> &'static str {
    match outcome {
        OutcomeKind::Succeeded => "c-ok",
        OutcomeKind::AlreadyDone => "c-done",
        OutcomeKind::Partial => "c-partial",
        OutcomeKind::Unconfirmed => "c-unconf",
        OutcomeKind::Failed => "c-fail",
        OutcomeKind::Drifted => "c-drift",
        OutcomeKind::Refused => "c-refused",
        OutcomeKind::Skipped => "c-skip",
    }
}

/// How an outcome reads on the page.
fn outcome_label(outcome: OutcomeKind) -> &'static str {
    match outcome {
        OutcomeKind::Succeeded => "succeeded",
        OutcomeKind::AlreadyDone => "already done",
        OutcomeKind::Partial => "partial (inactive user kept)",
        OutcomeKind::Unconfirmed => "unconfirmed",
        OutcomeKind::Failed => "failed",
        OutcomeKind::Drifted => "drifted",
        OutcomeKind::Refused => "refused",
        OutcomeKind::Skipped => "skipped",
    }
}

/// The run page: state and times, the outcomes, the rate over time, per type, failures.
pub fn run_page(view: &RunView) -> String {
    let mut b = String::new();
    let title = if view.title.is_empty() {
        "Run report"
    } else {
        &view.title
    };
    let (state_class, state_label) = match view.state.as_str() {
        "finished" => ("ok", "finished"),
        "stopped" => ("warn", "stopped, resumable"),
        "running_or_died" => ("unknown", "running, or died"),
        other => ("unknown", other),
    };
    header(
        &mut b,
        title,
        &view.server,
        &view.generated,
        Some((state_class, state_label)),
    );

    // The facts, two a row: when, where, what.
    b.push_str("<dl class=\"facts\">");
    fact(&mut b, "started", &esc(&when(&view.started)));
    match &view.ended {
        Some(ended) => {
            let label = if view.state == "finished" || view.state == "stopped" {
                "ended"
            } else {
                "last record"
            };
            let same_day = view.started.get(..10) == ended.get(..10);
            let at = if same_day {
                when(ended)
                    .split_once(' ')
                    .map_or(when(ended), |(_, t)| t.to_string())
            } else {
                when(ended)
            };
            let took = match (parse_ms(&view.started), parse_ms(ended)) {
                (Some(a), Some(b)) if b >= a => {
                    format!(" <span class=\"dim\">after {}</span>", duration(b - a))
                }
                _ => String::new(),
            };
            fact(&mut b, label, &format!("{}{took}", esc(&at)));
        }
        None => fact(&mut b, "ended", "<span class=\"dim\">not yet</span>"),
    }
    fact(
        &mut b,
        "journal",
        &format!("<code>{}</code>", esc(&view.journal)),
    );
    fact(&mut b, "plan", &format!("<code>{}</code>", esc(&view.plan)));
    fact(&mut b, "purpose", &esc(&view.purpose));
    let resumed = match view.resumes {
        0 => "never".to_string(),
        1 => "once".to_string(),
        n => format!("{} times", num(n)),
    };
    fact(&mut b, "resumed", &resumed);
    b.push_str("</dl>");

    if view.state != "finished" {
        let why = if view.state == "stopped" {
            "The run stopped before the end (Ctrl-C, <code>--max-errors</code>, a refused \
             token)."
        } else {
            "The journal has no end record: the run is still going, or it died."
        };
        let _ = write!(
            b,
            "<div class=\"notes\"><h2>Not finished</h2><p>{why} \
             <code>handover resume --journal {}</code> continues it; entities already done \
             are not written again.</p></div>",
            esc(&view.journal)
        );
    }

    let attention: u64 = view
        .outcomes
        .iter()
        .filter(|(o, _)| o.is_failure())
        .map(|(_, n)| n)
        .sum();
    if attention > 0 {
        let _ = write!(
            b,
            "<div class=\"notes bad\"><h2>{} {} need attention</h2><p>They failed, drifted, \
             were refused or could not be confirmed: see <b>Failures</b> below. \
             <code>handover status --journal {} --failed-plan retry.jsonl</code> writes a plan \
             of them to retry.</p></div>",
            num(attention),
            if attention == 1 { "entity" } else { "entities" },
            esc(&view.journal)
        );
    }

    // Tiles.
    let known: u64 = view.outcomes.iter().map(|(_, n)| n).sum::<u64>() + view.in_flight;
    let total = view.plan_entries.unwrap_or(known).max(known);
    b.push_str("<section class=\"tiles\">");
    tile(&mut b, "entities in the plan", total, "");
    tile(
        &mut b,
        "succeeded",
        view.count(OutcomeKind::Succeeded),
        "good",
    );
    tile(
        &mut b,
        "already done",
        view.count(OutcomeKind::AlreadyDone),
        "",
    );
    tile(
        &mut b,
        "need attention",
        attention,
        if attention > 0 { "bad" } else { "" },
    );
    tile(&mut b, "skipped", view.count(OutcomeKind::Skipped), "");
    if let Some(pending) = view.pending {
        tile(
            &mut b,
            "not reached yet",
            pending,
            if pending > 0 { "warn" } else { "" },
        );
    }
    if view.in_flight > 0 {
        tile(&mut b, "in flight", view.in_flight, "warn");
    }
    b.push_str("</section>");

    if let Some(r) = &view.residual {
        residual_notes(&mut b, r, &view.plan);
    }

    // Outcomes: one bar across, and the legend with counts.
    b.push_str("<section><h2>Outcomes</h2>");
    let mut parts: Vec<(&str, u64, String)> = view
        .outcomes
        .iter()
        .map(|(o, n)| (outcome_class(*o), *n, outcome_label(*o).to_string()))
        .collect();
    parts.push(("c-flight", view.in_flight, "in flight".to_string()));
    parts.push((
        "c-pending",
        view.pending.unwrap_or(0),
        "not reached yet".to_string(),
    ));
    b.push_str("<div class=\"whole\">");
    for (class, n, label) in &parts {
        if *n > 0 && total > 0 {
            let _ = write!(
                b,
                "<span class=\"{class}\" style=\"width:{}%\" title=\"{}: {}\"></span>",
                pct(*n, total),
                esc(label),
                num(*n)
            );
        }
    }
    b.push_str("</div><ul class=\"legend wide\">");
    for (class, n, label) in &parts {
        if *n == 0 && !matches!(*class, "c-ok" | "c-fail") {
            continue;
        }
        let share = if total > 0 && *n > 0 {
            format!(" <span class=\"dim\">{}%</span>", pct1(*n, total))
        } else {
            String::new()
        };
        let _ = write!(
            b,
            "<li><i class=\"{class}\"></i>{} <b>{}</b>{share}</li>",
            esc(label),
            num(*n)
        );
    }
    b.push_str("</ul></section>");

    // The rate over time.
    b.push_str("<section><h2>Rate over time</h2>");
    rate_chart(&mut b, &view.timeline);
    b.push_str("</section>");

    // Per type.
    b.push_str("<section><h2>Per type</h2>");
    if view.by_type.is_empty() {
        b.push_str("<p class=\"empty\">No entity has an outcome yet.</p>");
    } else {
        // Only the outcome columns something has, succeeded and failed always.
        let shown: Vec<usize> = (0..OutcomeKind::ALL.len())
            .filter(|&i| {
                matches!(
                    OutcomeKind::ALL[i],
                    OutcomeKind::Succeeded | OutcomeKind::Failed
                ) || view.by_type.iter().any(|t| t.outcomes[i] > 0)
            })
            .collect();
        let in_flight = view.by_type.iter().any(|t| t.in_flight > 0);
        let pending = view.by_type.iter().any(|t| t.pending > 0);
        let max = view
            .by_type
            .iter()
            .map(TypeOutcomes::total)
            .max()
            .unwrap_or(0);
        b.push_str("<table class=\"bars\"><thead><tr><th>type</th><th class=\"barcol\"></th>");
        for &i in &shown {
            let _ = write!(
                b,
                "<th class=\"n\">{}</th>",
                outcome_label(OutcomeKind::ALL[i])
            );
        }
        if in_flight {
            b.push_str("<th class=\"n\">in flight</th>");
        }
        if pending {
            b.push_str("<th class=\"n\">not reached</th>");
        }
        b.push_str("</tr></thead><tbody>");
        for t in &view.by_type {
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"barcol\">",
                esc(&kind_label(&t.kind))
            );
            let mut segs: Vec<(&str, u64, &str)> = OutcomeKind::ALL
                .iter()
                .zip(t.outcomes)
                .map(|(o, n)| (outcome_class(*o), n, outcome_label(*o)))
                .collect();
            segs.push(("c-flight", t.in_flight, "in flight"));
            segs.push(("c-pending", t.pending, "not reached yet"));
            stacked_bar(&mut b, max, &segs);
            b.push_str("</td>");
            for &i in &shown {
                let n = t.outcomes[i];
                let class = if n == 0 {
                    " zero"
                } else if OutcomeKind::ALL[i].is_failure() {
                    " bad"
                } else {
                    ""
                };
                let _ = write!(b, "<td class=\"n{class}\">{}</td>", num(n));
            }
            if in_flight {
                let _ = write!(b, "<td class=\"n\">{}</td>", num(t.in_flight));
            }
            if pending {
                let _ = write!(b, "<td class=\"n\">{}</td>", num(t.pending));
            }
            b.push_str("</tr>");
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");

    // Failures.
    let _ = write!(
        b,
        "<section><h2>Failures <span class=\"count\">{}</span></h2>",
        num(view.failures_total)
    );
    if view.failures_total == 0 && view.failures.is_empty() {
        b.push_str("<p class=\"empty\">None.</p>");
    } else {
        b.push_str(
            "<table class=\"list\"><thead><tr><th>type</th><th>name</th><th>id</th>\
             <th>outcome</th><th class=\"n\">HTTP</th><th>why</th></tr></thead><tbody>",
        );
        for f in &view.failures {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"id\">{}</td>\
                 <td><span class=\"pill bad\">{}</span></td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&kind_label(&f.kind)),
                esc(&f.name),
                esc(&f.id),
                esc(&f.outcome.replace('_', " ")),
                f.http_status.map(|s| s.to_string()).unwrap_or_default(),
                f.reason
                    .as_deref()
                    .map(esc)
                    .unwrap_or_else(|| "<span class=\"dim\">no reason recorded</span>".into())
            );
        }
        b.push_str("</tbody></table>");
        more(
            &mut b,
            view.failures_total,
            view.failures.len(),
            "failures: `handover status` lists every one",
        );
    }
    b.push_str("</section>");
    footer(&mut b);
    page(title, &view.server, &b)
}

/// The rate chart: one stacked column per bucket (done, failed, skipped), the y axis in
/// outcomes a second, dashed lines where the run was resumed. Each column has a tooltip.
fn rate_chart(b: &mut String, t: &Timeline) {
    let total: u64 = t.buckets.iter().map(RateBucket::total).sum();
    if total == 0 || t.bucket_ms == 0 {
        b.push_str("<p class=\"empty\">No outcome recorded yet.</p>");
        return;
    }
    let per_sec = |n: u64| n as f64 * 1000.0 / t.bucket_ms as f64;
    let peak = t.buckets.iter().map(RateBucket::total).max().unwrap_or(0);
    let span_ms = t.bucket_ms * t.buckets.len() as u64;
    let active = t.buckets.iter().filter(|b| b.total() > 0).count() as u64;
    let _ = write!(
        b,
        "<p class=\"hint\">{} outcomes over {}: <b>{}</b> a second on average while working, \
         <b>{}</b> at the peak (buckets of {}).</p>",
        num(total),
        duration(span_ms),
        rate_text(total as f64 * 1000.0 / (active.max(1) * t.bucket_ms) as f64),
        rate_text(per_sec(peak)),
        duration(t.bucket_ms)
    );
    legend(
        b,
        &[
            ("c-ok", "succeeded or already done"),
            ("c-fail", "failed, drifted, refused, unconfirmed"),
            ("c-skip", "skipped"),
        ],
    );

    // Geometry, in the SVG's own units; it scales to the page's width.
    let (w, h) = (1000.0, 250.0);
    let (left, right, top, bottom) = (56.0, 10.0, 10.0, 34.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let y_max = nice_ceiling(per_sec(peak));
    let y = |rate: f64| top + plot_h - rate / y_max * plot_h;
    let _ = write!(
        b,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"outcomes a second over time\">"
    );
    // Grid and y labels.
    for i in 0..=4 {
        let rate = y_max * i as f64 / 4.0;
        let yy = y(rate);
        let _ = write!(
            b,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            yy + 4.0,
            rate_text(rate)
        );
    }
    let _ = write!(
        b,
        "<text class=\"axis\" x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" \
         text-anchor=\"middle\">per second</text>",
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    // Columns.
    let n = t.buckets.len() as f64;
    let col = plot_w / n;
    let gap = if col > 4.0 { col * 0.15 } else { 0.0 };
    for (i, bucket) in t.buckets.iter().enumerate() {
        if bucket.total() == 0 {
            continue;
        }
        let x = left + i as f64 * col + gap / 2.0;
        let from = i as u64 * t.bucket_ms;
        let _ = write!(
            b,
            "<g><title>+{} to +{}: {} succeeded or already done, {} failed, {} skipped \
             ({} a second)</title>",
            duration(from),
            duration(from + t.bucket_ms),
            num(bucket.done),
            num(bucket.failed),
            num(bucket.skipped),
            rate_text(per_sec(bucket.total()))
        );
        let mut base = 0u64;
        for (class, count) in [
            ("c-ok", bucket.done),
            ("c-fail", bucket.failed),
            ("c-skip", bucket.skipped),
        ] {
            if count == 0 {
                continue;
            }
            let y1 = y(per_sec(base + count));
            let y0 = y(per_sec(base));
            let _ = write!(
                b,
                "<rect class=\"{class}\" x=\"{x:.2}\" y=\"{y1:.2}\" width=\"{:.2}\" height=\"{:.2}\"/>",
                (col - gap).max(0.5),
                (y0 - y1).max(0.5)
            );
            base += count;
        }
        b.push_str("</g>");
    }
    // Resumes.
    for at in &t.resumes {
        let x = left + (*at as f64 / span_ms as f64).min(1.0) * plot_w;
        let _ = write!(
            b,
            "<line class=\"resume\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{:.1}\"/>\
             <text class=\"axis mark\" x=\"{:.1}\" y=\"{:.1}\">resumed</text>",
            top + plot_h,
            x + 3.0,
            top + 11.0
        );
    }
    // The x axis: elapsed time at five points.
    let _ = write!(
        b,
        "<line class=\"base\" x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        w - right,
        top + plot_h,
        top + plot_h
    );
    for i in 0..=4 {
        let at = span_ms * i / 4;
        let x = left + plot_w * i as f64 / 4.0;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            b,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            top + plot_h + 20.0,
            if at == 0 {
                "start".to_string()
            } else {
                format!("+{}", duration(at))
            }
        );
    }
    b.push_str("</svg>");
    let _ = write!(
        b,
        "<p class=\"dim small\">Time from the start of the run, {}. Hover over a column \
         for its counts.</p>",
        esc(&when(&t.start))
    );
}

// ---------------------------------------------------------------------------------------
// Pieces both pages use.

/// The whole document around `body`.
fn page(title: &str, server: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 512);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"handover {}\">\n\
         <title>{} · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        esc(server)
    );
    out.push_str(body);
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}

/// The heading: the title, an optional state badge, the server and the time.
fn header(b: &mut String, title: &str, server: &str, generated: &str, badge: Option<(&str, &str)>) {
    let _ = write!(b, "<header><h1>{}", esc(title));
    if let Some((class, label)) = badge {
        let _ = write!(b, " <span class=\"pill big {class}\">{}</span>", esc(label));
    }
    let _ = write!(
        b,
        "</h1><p class=\"sub\"><code>{}</code> · generated {}</p></header>",
        esc(server),
        esc(&when(generated))
    );
}

/// The coverage notes, prominent; or a line saying there are none.
fn notes(b: &mut String, notes: &[String]) {
    if notes.is_empty() {
        b.push_str("<p class=\"covered\">The listing reported no gaps in what it could see.</p>");
        return;
    }
    b.push_str("<div class=\"notes\"><h2>What this inventory could not see</h2><ul>");
    for n in notes {
        let _ = write!(b, "<li>{}</li>", esc(n));
    }
    b.push_str("</ul></div>");
}

/// The run's residual: how many entities the departing users still hold what the plan
/// meant to remove from, and why.
fn residual_notes(b: &mut String, r: &RunResidual, plan: &str) {
    let what = if r.keep_other_access {
        "ownership (their other access is kept: <code>--keep-other-access</code>)"
    } else {
        "ownership or access"
    };
    let users = esc(&r.users.join(", "));
    if r.total() == 0 {
        let _ = write!(
            b,
            "<div class=\"notes\"><h2>Residual: 0</h2><p>By this run's record, {users} \
             hold{} no {what} the plan meant to remove. <code>handover verify {}</code> reads \
             the live access lists.</p></div>",
            if r.users.len() == 1 { "s" } else { "" },
            esc(plan)
        );
        return;
    }
    let mut parts = Vec::new();
    for (n, label) in [
        (r.refused_in_plan, "refused when planned"),
        (r.not_done, "failed, drifted or refused"),
        (
            r.partial,
            "partial (the server kept inactive users' access)",
        ),
        (r.not_reached, "not reached yet"),
    ] {
        if n > 0 {
            parts.push(format!("{} {label}", num(n)));
        }
    }
    let _ = write!(
        b,
        "<div class=\"notes bad\"><h2>Residual: {}</h2><p>By this run's record, {users} \
         still hold{} {what} the plan meant to remove on {} {}: {}. \
         <code>handover verify {}</code> reads the live access lists and names them.</p></div>",
        num(r.total()),
        if r.users.len() == 1 { "s" } else { "" },
        num(r.total()),
        if r.total() == 1 { "entity" } else { "entities" },
        parts.join(", "),
        esc(plan)
    );
}

fn tile(b: &mut String, label: &str, n: u64, class: &str) {
    let _ = write!(
        b,
        "<div class=\"tile {class}\"><div class=\"big\">{}</div><div class=\"label\">{}</div></div>",
        num(n),
        esc(label)
    );
}

fn fact(b: &mut String, label: &str, html: &str) {
    let _ = write!(b, "<div><dt>{}</dt><dd>{html}</dd></div>", esc(label));
}

fn legend(b: &mut String, items: &[(&str, &str)]) {
    b.push_str("<ul class=\"legend\">");
    for (class, label) in items {
        let _ = write!(b, "<li><i class=\"{class}\"></i>{}</li>", esc(label));
    }
    b.push_str("</ul>");
}

/// A bar whose length is `sum(parts) / max` of its cell, in segments.
fn stacked_bar(b: &mut String, max: u64, parts: &[(&str, u64, &str)]) {
    b.push_str("<div class=\"track\">");
    if max > 0 {
        for (class, n, label) in parts {
            if *n > 0 {
                let _ = write!(
                    b,
                    "<span class=\"{class}\" style=\"width:{}%\" title=\"{}: {}\"></span>",
                    pct(*n, max),
                    esc(label),
                    num(*n)
                );
            }
        }
    }
    b.push_str("</div>");
}

/// "and N more …" under a capped list.
fn more(b: &mut String, total: u64, shown: usize, what: &str) {
    let rest = total.saturating_sub(shown as u64);
    if rest > 0 {
        let _ = write!(
            b,
            "<p class=\"more\">and {} more {} (the first {} are shown).</p>",
            num(rest),
            esc(what),
            num(shown as u64)
        );
    }
}

fn footer(b: &mut String) {
    let _ = write!(
        b,
        "<footer>handover {} · this page is a single file: no scripts, nothing loaded from \
         elsewhere; it names users, so keep it as private as the reports.</footer>",
        env!("CARGO_PKG_VERSION")
    );
}

/// HTML-escapes `text` for element content and quoted attributes alike.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `data_store` → `data stores`: the label every human table gives the kind
/// ([`EntityKind::plural_label`](crate::model::EntityKind::plural_label)); a name that is
/// not a kind (a view built by hand) only loses its underscores.
fn kind_label(kind: &str) -> String {
    match kind.parse::<crate::model::EntityKind>() {
        Ok(kind) => kind.plural_label().to_string(),
        Err(_) => kind.replace('_', " "),
    }
}

/// `12345` → `12,345`.
fn num(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` of `of` as a CSS percentage, at least a sliver when `n > 0`.
fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return "0".into();
    }
    let p = n as f64 * 100.0 / of as f64;
    let p = if n > 0 { p.max(0.4) } else { p };
    format!("{:.2}", p.min(100.0))
}

/// A share for people: `12.5`, `<0.1`.
fn pct1(n: u64, of: u64) -> String {
    let p = n as f64 * 100.0 / of as f64;
    if n > 0 && p < 0.1 {
        "&lt;0.1".into()
    } else {
        format!("{p:.1}")
    }
}

/// A rate for people: `0.4`, `12`, `1,250`.
fn rate_text(r: f64) -> String {
    if r <= 0.0 {
        "0".into()
    } else if r < 10.0 {
        let s = format!("{r:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        num(r.round() as u64)
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `x`: a y axis's top.
fn nice_ceiling(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * mag >= x * 0.999_999 {
            return step * mag;
        }
    }
    10.0 * mag
}

/// A duration for people: `850 ms`, `4.2 s`, `2 min 05 s`, `3 h 07 min`, `2 d 4 h`.
pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => {
            let t = format!("{:.1}", ms as f64 / 1000.0);
            format!("{} s", t.strip_suffix(".0").unwrap_or(&t))
        }
        10_000..60_000 => format!("{s} s"),
        60_000..3_600_000 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60_000..3_600_000 => format!("{} min {:02} s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An RFC 3339 time for people: `2026-11-01T09:30:00.123Z` → `2026-11-01 09:30:00 UTC`.
/// Anything else is shown as it is.
fn when(time: &str) -> String {
    let b = time.as_bytes();
    let shaped = b.len() >= 20 && b[10] == b'T' && b[13] == b':' && time.ends_with('Z');
    match (shaped, time.get(..10), time.get(11..19)) {
        (true, Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => time.to_string(),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub(super) fn parse_ms(time: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(time).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}

/// The one stylesheet. Colours: a blue for plain counts (`#2563eb`), green for success,
/// red for failures, amber for orphans and warnings, grey for what was left alone.
const CSS: &str = r#"
:root{--fg:#111827;--dim:#6b7280;--line:#e5e7eb;--bg:#fff;--card:#f9fafb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans","DejaVu Sans",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 32px 40px}
header h1{margin:0;font-size:28px;font-weight:650;display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.sub{margin:4px 0 18px;color:var(--dim)}
code{font:13px ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
h2{font-size:18px;margin:0 0 10px;font-weight:620}
section{margin:26px 0}
.count{color:var(--dim);font-weight:500}
.scope{margin:0 0 14px;padding:8px 12px;background:#eff6ff;border-left:4px solid #2563eb;border-radius:4px}
.notes{margin:0 0 18px;padding:14px 18px;background:#fffbeb;border:1px solid #fcd34d;border-left:6px solid #f59e0b;border-radius:6px}
.notes h2{color:#92400e;margin-bottom:6px}
.notes ul{margin:0;padding-left:20px}.notes li{margin:3px 0}
.notes p{margin:0}
.notes.bad{background:#fef2f2;border-color:#fca5a5;border-left-color:#dc2626}
.notes.bad h2{color:#991b1b}
.covered{margin:0 0 14px;color:#166534}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:12px}
.tile{padding:12px 16px;background:var(--card);border:1px solid var(--line);border-radius:8px;min-width:0}
.tile .big{font-size:25px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .label{color:var(--dim);font-size:13px}
.tile.good .big{color:#15803d}.tile.bad .big{color:#b91c1c}.tile.warn .big{color:#b45309}.tile.muted .big{color:#4b5563}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:6px 24px;margin:0 0 18px}
.facts div{display:flex;gap:10px;min-width:0}
.facts dt{color:var(--dim);min-width:70px}.facts dd{margin:0;min-width:0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim);font-weight:600;text-align:left;padding:6px 8px;border-bottom:2px solid var(--line)}
td{padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
tfoot td{font-weight:650;border-bottom:none;border-top:2px solid var(--line)}
.n{text-align:right;white-space:nowrap}
.zero{color:#c0c4cc}.warn{color:#b45309}.bad{color:#b91c1c}.dim{color:var(--dim)}.small{font-size:12px}
td.id{font:12px ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;color:#374151;white-space:nowrap}
.bars td:first-child,.list td:first-child{white-space:nowrap}
td.who{font-weight:550}
.list tbody tr:nth-child(even){background:var(--card)}
.list td{overflow-wrap:anywhere}
.barcol{width:42%}
.track{display:flex;height:16px;background:#f3f4f6;border-radius:3px;overflow:hidden}
.track span{display:block;height:100%}
.whole{display:flex;height:30px;border-radius:6px;overflow:hidden;background:#f3f4f6;margin:4px 0 10px}
.whole span{display:block;height:100%}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px;margin:0 0 10px;padding:0;font-size:13px;color:#374151}
.legend.wide{font-size:14px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;background:#f3f4f6;color:#374151}
.pill.ok{background:#dcfce7;color:#166534}.pill.bad{background:#fee2e2;color:#991b1b}
.pill.warn{background:#fef3c7;color:#92400e}.pill.unknown{background:#f3f4f6;color:#4b5563}
.pill.big{font-size:14px;padding:3px 12px}
.hint{color:#374151;margin:0 0 10px}
.empty{color:var(--dim);font-style:italic}
.more{color:var(--dim);margin:8px 0 0}
.chart{width:100%;height:auto;display:block}
.chart .grid{stroke:#e5e7eb;stroke-width:1}
.chart .base{stroke:#9ca3af;stroke-width:1}
.chart .axis{fill:#6b7280;font-size:12px}
.chart .mark{fill:#7c3aed}
.chart .resume{stroke:#7c3aed;stroke-width:1.5;stroke-dasharray:5 4}
footer{margin-top:36px;padding-top:12px;border-top:1px solid var(--line);color:var(--dim);font-size:12px}
.c-main{background:#2563eb;fill:#2563eb}
.c-orphan{background:#f59e0b;fill:#f59e0b}
.c-unread{background:#9ca3af;fill:#9ca3af}
.c-ok{background:#16a34a;fill:#16a34a}
.c-done{background:#86efac;fill:#86efac}
.c-unconf{background:#eab308;fill:#eab308}
.c-partial{background:#ea580c;fill:#ea580c}
.c-fail{background:#dc2626;fill:#dc2626}
.c-drift{background:#9333ea;fill:#9333ea}
.c-refused{background:#ea580c;fill:#ea580c}
.c-skip{background:#9ca3af;fill:#9ca3af}
.c-flight{background:#60a5fa;fill:#60a5fa}
.c-pending{background:#e5e7eb;fill:#e5e7eb}
@media print{main{max-width:none;padding:0}.tile{break-inside:avoid}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages label a kind as every human table does, not by its snake_case name.
    #[test]
    fn kinds_are_labelled_as_in_the_tables() {
        for kind in crate::model::EntityKind::ALL {
            assert_eq!(kind_label(kind.as_str()), kind.plural_label());
        }
        assert_eq!(kind_label("some_thing"), "some thing");
    }

    fn inventory() -> InventoryView {
        InventoryView {
            title: "Inventory".into(),
            server: "https://dr.example/api/v2".into(),
            generated: "2026-11-01T09:30:00Z".into(),
            user: None,
            by_type: vec![
                TypeCounts {
                    kind: "project".into(),
                    entities: 1200,
                    orphans: 30,
                    unreadable: 2,
                    read_only: false,
                },
                TypeCounts {
                    kind: "notebook".into(),
                    entities: 40,
                    orphans: 0,
                    unreadable: 0,
                    read_only: true,
                },
            ],
            owners: vec![OwnerCount {
                username: "alice@x".into(),
                active: Some(false),
                owned: 31,
            }],
            orphans: vec![OrphanRow {
                kind: "project".into(),
                id: "p1".into(),
                name: "<script>alert(1)</script>".into(),
                owners: vec!["\"bob\"&<i>".into()],
            }],
            orphans_total: 30,
            notes: vec!["not an org admin: <only> what is shared with you".into()],
        }
    }

    /// Whatever a name holds, it comes out as text: no element, no attribute breaks out.
    #[test]
    fn server_strings_are_escaped() {
        let html = inventory_page(&inventory());
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;bob&quot;&amp;&lt;i&gt;"));
        assert!(html.contains("&lt;only&gt;"));
        // A read-only type says so on its row.
        assert!(html.contains("<td>notebooks (read only)</td>"), "{html}");
        let run = RunView {
            failures: vec![FailureRow {
                kind: "project".into(),
                id: "\"><script>x</script>".into(),
                name: "<img src=x onerror=alert(1)>".into(),
                outcome: "failed".into(),
                http_status: Some(500),
                reason: Some("<b>bad</b>".into()),
            }],
            residual: None,
            failures_total: 1,
            journal: "<j>".into(),
            ..RunView::default()
        };
        let html = run_page(&run);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"));
    }

    /// Nothing is loaded from elsewhere and nothing runs.
    #[test]
    fn pages_are_self_contained() {
        let run = RunView {
            outcomes: vec![(OutcomeKind::Succeeded, 5), (OutcomeKind::Failed, 1)],
            timeline: Timeline {
                start: "2026-11-01T09:30:00Z".into(),
                bucket_ms: 1000,
                buckets: vec![
                    RateBucket {
                        done: 3,
                        failed: 1,
                        skipped: 0,
                    },
                    RateBucket::default(),
                    RateBucket {
                        done: 2,
                        failed: 0,
                        skipped: 0,
                    },
                ],
                resumes: vec![1500],
            },
            ..RunView::default()
        };
        for html in [inventory_page(&inventory()), run_page(&run)] {
            let lower = html.to_lowercase();
            for banned in [
                "<script", "src=", "href=", "url(", "@import", "<link", "<iframe",
            ] {
                assert!(!lower.contains(banned), "{banned} in the page");
            }
            assert!(html.starts_with("<!DOCTYPE html>"));
            assert!(html.contains("default-src 'none'"));
        }
    }

    #[test]
    fn capped_lists_say_how_many_more() {
        let html = inventory_page(&inventory());
        assert!(html.contains("and 29 more orphaned entities"), "{html}");
        let run = RunView {
            residual: None,
            failures_total: 1234,
            failures: vec![FailureRow::default()],
            ..RunView::default()
        };
        assert!(run_page(&run).contains("and 1,233 more failures"));
    }

    #[test]
    fn notes_come_first_and_the_user_is_named() {
        let mut view = inventory();
        view.user = Some("carol@x".into());
        let html = inventory_page(&view);
        let notes = html.find("could not see").unwrap();
        assert!(notes < html.find("Entities per type").unwrap());
        assert!(html.contains("<b>carol@x</b>"));
        view.notes.clear();
        assert!(inventory_page(&view).contains("no gaps"));
    }

    #[test]
    fn numbers_rates_and_durations_read_well() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1000), "1,000");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(rate_text(0.45), "0.5");
        assert_eq!(rate_text(3.0), "3");
        assert_eq!(rate_text(1249.6), "1,250");
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(4200), "4.2 s");
        assert_eq!(duration(3000), "3 s");
        assert_eq!(duration(125_000), "2 min 05 s");
        assert_eq!(duration(120_000), "2 min");
        assert_eq!(duration(3_600_000 * 3 + 420_000), "3 h 07 min");
        assert_eq!(duration(86_400_000 * 2 + 3_600_000 * 4), "2 d 4 h");
        assert_eq!(pct(0, 10), "0.00");
        assert_eq!(pct(1, 100_000), "0.40");
        assert_eq!(pct(5, 10), "50.00");
        assert_eq!(parse_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(when("2026-11-01T09:30:00.123Z"), "2026-11-01 09:30:00 UTC");
        assert_eq!(when("2026-11-01T09:30:00Z"), "2026-11-01 09:30:00 UTC");
        assert_eq!(when("yesterday"), "yesterday");
    }

    #[test]
    fn an_empty_run_still_renders() {
        let html = run_page(&RunView::default());
        assert!(html.contains("No outcome recorded yet"));
        assert!(html.contains("Run report"));
    }

    #[test]
    fn pages_are_written_owner_only_and_directories_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.html");
        write_page(&path, "<p>x</p>").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(PageFile::create(dir.path()).is_err());
        assert!(PageFile::create(&dir.path().join("no/such/p.html")).is_err());
    }
}
