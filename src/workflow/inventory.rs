//! `inventory`: the files created first (an unwritable `--out` fails before a request),
//! the connection, the organization's users (who is active), `--user` looked up, then
//! [`after::inventory`](crate::after::inventory) reads every entity and writes both files,
//! and the page for people when asked.

use std::path::PathBuf;

use crate::after::html::{PageFile, inventory_page};
use crate::after::inventory::{self, Context, Directory, Inventory, InventorySpec, Outputs};
use crate::api::config::ConnInputs;
use crate::api::{ClientPolicy, ErrorClass};
use crate::exit;
use crate::model::EntityKind;
use crate::plan::UserIdent;

use super::connect;

/// What `inventory` is asked.
#[derive(Clone, Debug)]
pub struct InventorySettings {
    pub conn: ConnInputs,
    pub policy: ClientPolicy,
    /// The kinds; all 27 when empty (the 25 writable ones and the 2 read-only ones).
    pub kinds: Vec<EntityKind>,
    /// Only what this user holds a role on.
    pub user: Option<String>,
    /// The CSV; the counts go beside it with `.json`.
    pub out: PathBuf,
    /// Also a page for people (`--html`).
    pub html: Option<PathBuf>,
    /// Access-list reads in flight at once.
    pub concurrency: usize,
    pub progress: bool,
}

/// What an inventory came to, and where its files are.
#[derive(Debug)]
pub struct Taken {
    pub inventory: Inventory,
    pub csv: PathBuf,
    pub json: PathBuf,
}

/// Runs `handover inventory`.
pub async fn run(settings: &InventorySettings) -> anyhow::Result<Taken> {
    let outputs = Outputs::create(&settings.out).map_err(|e| {
        exit::with_code(
            exit::INVALID_INPUT,
            anyhow::Error::new(e)
                .context(format!("--out {}: cannot write", settings.out.display())),
        )
    })?;
    let json = outputs.json_path().to_path_buf();
    let page = match &settings.html {
        Some(path) => Some(PageFile::create(path).map_err(|e| {
            exit::with_code(
                exit::INVALID_INPUT,
                anyhow::Error::new(e).context(format!("--html {}: cannot write", path.display())),
            )
        })?),
        None => None,
    };
    let (client, account) = connect(&settings.conn, settings.policy.clone()).await?;
    let directory = match client.list_users().await {
        Ok(users) => Directory::new(users),
        Err(e) if e.class() == ErrorClass::NotAllowed => {
            tracing::warn!(
                "cannot list users (only organization administrators may): owners' states \
                 and orphans are unknown"
            );
            Directory::unlisted()
        }
        Err(e) => return Err(exit::with_code(e.exit_code(), e)),
    };
    let user = match &settings.user {
        None => None,
        Some(name) if name.eq_ignore_ascii_case(&account.username) => Some(UserIdent {
            id: account.id.clone(),
            username: account.username.clone(),
        }),
        Some(name) if directory.listed => match directory.find(name) {
            Some(u) => Some(UserIdent {
                id: u.id.clone(),
                username: u.username.clone(),
            }),
            None => {
                return Err(exit::with_code(
                    exit::INVALID_INPUT,
                    anyhow::anyhow!("--user {name}: no such user"),
                ));
            }
        },
        Some(name) => {
            crate::plan::planner::warn_unchecked([name.as_str()]);
            Some(UserIdent::unchecked(name))
        }
    };
    let spec = InventorySpec {
        // Every kind by default, the read-only ones included (listed as such).
        kinds: if settings.kinds.is_empty() {
            EntityKind::ALL.to_vec()
        } else {
            super::plan::kinds_of(&settings.kinds)
        },
        user,
        concurrency: settings.concurrency,
        progress: settings.progress,
    };
    let endpoint = client.endpoint().as_str().trim_end_matches('/').to_string();
    let context = Context {
        endpoint: &endpoint,
        caller: &account.username,
        org_admin: account.org_admin,
    };
    let inventory = inventory::take(&client, &context, &directory, &spec, outputs)
        .await
        .map_err(|e| {
            let code = e.exit_code();
            exit::with_code(code, e)
        })?;
    if let Some(page) = page {
        let view = inventory.view(&endpoint, spec.user.as_ref().map(|u| u.username.as_str()));
        page.commit(&inventory_page(&view))
            .map_err(|e| exit::with_code(e.exit_code(), e))?;
    }
    Ok(Taken {
        inventory,
        csv: settings.out.clone(),
        json,
    })
}
