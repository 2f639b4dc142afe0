//! Where a new account goes: among the panels in rotation (enabled, healthy, under capacity,
//! matching the plan's panel or location), the least loaded for its weight.

use shared::db::Db;

use super::PanelRow;
use crate::Result;

/// What an order asks of its panel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    pub panel_id: Option<String>,
    pub location: Option<String>,
}

/// A panel with the number of live accounts on it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub panel: PanelRow,
    pub live_accounts: i64,
}

/// Live accounts (not deleted) per panel, plus orders on their way to each panel.
pub async fn candidates(db: &Db) -> Result<Vec<Candidate>> {
    let panels = super::all(db).await?;
    let mut out = Vec::with_capacity(panels.len());
    for panel in panels {
        let live: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM services WHERE panel_id = $1 AND status <> 'deleted')
                  + (SELECT COUNT(*) FROM orders WHERE panel_id = $1
                         AND state IN ('paid', 'provisioning') AND kind IN ('new', 'trial'))",
        )
        .bind(&panel.id)
        .fetch_one(db.pool())
        .await?;
        out.push(Candidate {
            panel,
            live_accounts: live,
        });
    }
    Ok(out)
}

/// The least loaded panel that can take `want`, or `None` when none can.
/// Load is live accounts per unit of weight; ties go to the older panel.
pub fn choose<'a>(candidates: &'a [Candidate], want: &Want) -> Option<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| c.panel.enabled && c.panel.healthy)
        .filter(|c| c.panel.capacity.is_none_or(|cap| c.live_accounts < cap))
        .filter(|c| want.panel_id.as_ref().is_none_or(|id| &c.panel.id == id))
        .filter(|c| {
            want.location
                .as_ref()
                .is_none_or(|loc| c.panel.location.as_deref() == Some(loc.as_str()))
        })
        .min_by(|a, b| {
            // a.live / a.weight < b.live / b.weight, without division.
            let left = a.live_accounts as i128 * b.panel.weight.max(1) as i128;
            let right = b.live_accounts as i128 * a.panel.weight.max(1) as i128;
            left.cmp(&right)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::Source;
    use shared::panel::PanelKind;

    fn panel(id: &str, weight: i64, capacity: Option<i64>, location: Option<&str>) -> PanelRow {
        PanelRow {
            id: id.into(),
            name: id.into(),
            kind: PanelKind::Marzban,
            url: "https://p.example".into(),
            subscription_base: None,
            source: Source::Bot,
            source_ref: None,
            weight,
            capacity,
            location: location.map(str::to_string),
            inbounds: vec![],
            enabled: true,
            healthy: true,
            health_error: None,
            checked_at: None,
            updated_at: 0,
        }
    }

    fn c(panel: PanelRow, live: i64) -> Candidate {
        Candidate {
            panel,
            live_accounts: live,
        }
    }

    #[test]
    fn the_least_loaded_for_its_weight_wins() {
        let list = vec![
            c(panel("a", 1, None, None), 10),
            c(panel("b", 3, None, None), 24),
        ];
        // a: 10 per weight, b: 8 per weight.
        assert_eq!(choose(&list, &Want::default()).unwrap().panel.id, "b");
    }

    #[test]
    fn full_unhealthy_and_disabled_panels_get_nothing() {
        let mut sick = panel("sick", 1, None, None);
        sick.healthy = false;
        let mut off = panel("off", 1, None, None);
        off.enabled = false;
        let list = vec![
            c(sick, 0),
            c(off, 0),
            c(panel("full", 1, Some(5), None), 5),
            c(panel("ok", 1, Some(100), None), 50),
        ];
        assert_eq!(choose(&list, &Want::default()).unwrap().panel.id, "ok");
        let only_bad = vec![list[0].clone(), list[1].clone(), list[2].clone()];
        assert!(choose(&only_bad, &Want::default()).is_none());
    }

    #[test]
    fn a_plan_bound_to_a_location_or_panel_stays_there() {
        let list = vec![
            c(panel("de", 1, None, Some("Germany")), 50),
            c(panel("nl", 1, None, Some("Netherlands")), 0),
        ];
        let want = Want {
            panel_id: None,
            location: Some("Germany".into()),
        };
        assert_eq!(choose(&list, &want).unwrap().panel.id, "de");
        let want = Want {
            panel_id: Some("de".into()),
            location: None,
        };
        assert_eq!(choose(&list, &want).unwrap().panel.id, "de");
        let want = Want {
            panel_id: None,
            location: Some("France".into()),
        };
        assert!(choose(&list, &want).is_none());
    }
}
