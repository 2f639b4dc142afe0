//! Live panel clients, built from the stored rows on first use and rebuilt when a row changes.
//! A client keeps its login session, so every order does not log in again.

use std::collections::HashMap;
use std::sync::Arc;

use shared::db::Db;
use shared::panel::{MarzbanPanel, Panel, PanelKind, PanelOptions, PanelUrl, XuiPanel};
use shared::secret::Keyring;
use tokio::sync::Mutex;

use super::PanelRow;
use crate::{Error, Result};

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    keyring: Keyring,
    options: PanelOptions,
    /// panel id -> the client and the row's `updated_at` it was built from.
    clients: Mutex<HashMap<String, Built>>,
}

struct Built {
    row_updated_at: i64,
    client: Arc<dyn Panel>,
}

impl Registry {
    /// `options.network` decides which addresses panels may have.
    pub fn new(db: Db, keyring: Keyring, options: PanelOptions) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                db,
                keyring,
                options,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    pub fn options(&self) -> &PanelOptions {
        &self.inner.options
    }

    /// The client of a stored panel.
    pub async fn client(&self, row: &PanelRow) -> Result<Arc<dyn Panel>> {
        let mut clients = self.inner.clients.lock().await;
        if let Some(built) = clients.get(&row.id) {
            if built.row_updated_at == row.updated_at {
                return Ok(built.client.clone());
            }
        }
        let client = self.build(row).await?;
        let built = Built {
            row_updated_at: row.updated_at,
            client: client.clone(),
        };
        clients.insert(row.id.clone(), built);
        Ok(client)
    }

    /// The client of a panel by id.
    pub async fn client_by_id(&self, panel_id: &str) -> Result<Arc<dyn Panel>> {
        let row = super::get(&self.inner.db, panel_id)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("panel {panel_id} is gone")))?;
        self.client(&row).await
    }

    async fn build(&self, row: &PanelRow) -> Result<Arc<dyn Panel>> {
        let credentials = super::credentials(&self.inner.db, &self.inner.keyring, &row.id).await?;
        let url = PanelUrl::parse(&row.url, &self.inner.options.network)?;
        let mut options = self.inner.options.clone();
        if let Some(base) = &row.subscription_base {
            options.xui_subscription_base = Some(PanelUrl::parse(base, &options.network)?);
        }
        Ok(match row.kind {
            PanelKind::Marzban => Arc::new(MarzbanPanel::new(url, credentials, options)?),
            PanelKind::Xui => Arc::new(XuiPanel::new(url, credentials, options)?),
        })
    }
}
