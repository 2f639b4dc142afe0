//! Health checks: a real login and API probe of every panel on a timer. A panel that fails
//! gets no new accounts until it passes again; admins hear when a panel goes down or comes back.

use shared::db::Db;

use super::Registry;
use crate::notices::{self, Notice};
use crate::Result;

/// Checks every panel once. Returns how many are healthy.
pub async fn check_all(db: &Db, registry: &Registry, now: i64) -> Result<usize> {
    let mut healthy = 0;
    for panel in super::all(db).await? {
        let result = match registry.client(&panel).await {
            Ok(client) => client.health().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let error = result.err();
        if error.is_none() {
            healthy += 1;
        }
        let changed = panel.healthy != error.is_none();
        super::record_health(db, &panel.id, error.as_deref(), now).await?;
        if changed {
            let notice = match &error {
                Some(reason) => Notice::PanelDown {
                    panel: panel.name.clone(),
                    reason: reason.clone(),
                },
                None => Notice::PanelUp {
                    panel: panel.name.clone(),
                },
            };
            let key = format!("panel-health:{}:{now}", panel.id);
            notices::to_admins(db, &notice, &key, now).await?;
            tracing::warn!(panel = %panel.name, error = ?error, "panel health changed");
        }
    }
    Ok(healthy)
}
