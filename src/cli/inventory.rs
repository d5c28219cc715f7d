//! `handover inventory`: who owns what, read only. Flags → [`crate::workflow::inventory`] →
//! a table on stdout, the CSV and its JSON counts on disk.

use std::path::PathBuf;

use crate::after::inventory::render;
use crate::exit;
use crate::model::EntityKind;
use crate::workflow::inventory::{self, InventorySettings};

use super::conn::{ConnOpts, PaceOpts};
use super::progress_on;

/// Options of `handover inventory`.
#[derive(Debug, clap::Args)]
pub struct InventoryOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    /// Entity types to include, comma-separated (e.g. project,deployment) [default: all 27:
    /// the 25 writable types, and model packages and notebooks, listed read only].
    #[arg(long, value_name = "TYPES", value_delimiter = ',')]
    pub types: Vec<EntityKind>,
    /// Only the entities this user owns or can access: what their leaving would touch.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Where to write the CSV, one row per entity; the counts go beside it, with the
    /// extension .json.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write a self-contained HTML page (per-type bars, owners, orphans) to open in
    /// any browser; it loads nothing from the network.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub pace: PaceOpts,
}

/// Runs `handover inventory`.
pub async fn run(opts: InventoryOpts, quiet: bool) -> anyhow::Result<i32> {
    let settings = InventorySettings {
        conn: opts.conn.inputs(),
        policy: opts.pace.policy(),
        kinds: opts.types,
        user: opts.user,
        out: opts.out,
        html: opts.html,
        concurrency: opts.pace.workers(),
        progress: progress_on(quiet),
    };
    let taken = inventory::run(&settings).await?;
    print!("{}", render(&taken.inventory, 20));
    println!(
        "inventory: {} ({} rows; counts in {})",
        taken.csv.display(),
        taken.inventory.rows,
        taken.json.display()
    );
    if let Some(html) = &settings.html {
        println!("page: {html}", html = html.display());
    }
    Ok(exit::OK)
}
