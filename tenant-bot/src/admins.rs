//! People who run the shop from the bot. The owner comes from the master; roles and staff
//! management grow in the admin menu.

use shared::db::Db;

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
        }
    }
}

/// Every admin's Telegram id, the owner first.
pub async fn ids(db: &Db) -> Result<Vec<i64>> {
    ids_with(db.pool()).await
}

/// [`ids`] through any executor (the pool, or a transaction's connection).
pub async fn ids_with<'e, E>(executor: E) -> Result<Vec<i64>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(sqlx::query_scalar(
        "SELECT telegram_id FROM admins ORDER BY role = 'owner' DESC, telegram_id",
    )
    .fetch_all(executor)
    .await?)
}

pub async fn is_admin(db: &Db, telegram_id: i64) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT telegram_id FROM admins WHERE telegram_id = $1")
            .bind(telegram_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.is_some())
}

/// Makes `telegram_id` the owner (as the master says); a previous owner from the master
/// is replaced.
pub async fn set_owner(db: &Db, telegram_id: i64, now: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM admins WHERE role = 'owner' AND telegram_id <> $1")
        .bind(telegram_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO admins (telegram_id, role, source, created_at) VALUES ($1, 'owner', 'master', $2)
         ON CONFLICT (telegram_id) DO UPDATE SET role = 'owner', source = 'master'",
    )
    .bind(telegram_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add(db: &Db, telegram_id: i64, role: Role, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO admins (telegram_id, role, source, created_at) VALUES ($1, $2, 'bot', $3)
         ON CONFLICT (telegram_id) DO UPDATE SET role = excluded.role",
    )
    .bind(telegram_id)
    .bind(role.as_str())
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}
