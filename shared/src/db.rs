//! The database: one pool chosen by URL, SQLite (the default) or PostgreSQL, and the
//! migrations that run at start-up. Queries are written once in portable SQL with `$1`
//! placeholders, which both engines understand through sqlx's `Any` driver.
//!
//! Portability rules: integers are BIGINT; PostgreSQL's SUM of BIGINT is NUMERIC, which the
//! `Any` driver cannot read, so write `CAST(COALESCE(SUM(x), 0) AS BIGINT)`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Executor};

pub use sqlx::any::AnyRow as Row;
pub use sqlx::Row as RowExt;

static MASTER_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/master");
static TENANT_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/tenant");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "must start with sqlite:// (for example sqlite://data/madar.db) or postgres:// \
         (for example postgres://madar:password@localhost/madar)"
    )]
    UnsupportedUrl,
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the {engine} database: {source}")]
    Connect { engine: Engine, source: sqlx::Error },
    #[error("database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        })
    }
}

impl Engine {
    pub fn from_url(url: &str) -> Result<Engine, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// The URL of a SQLite file (created when missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Which set of migrations a database gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Master,
    Tenant,
}

/// A connection pool and the engine behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
}

impl Db {
    /// Connects (creating a SQLite file and its directory when missing) without migrating.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        if engine == Engine::Sqlite {
            create_sqlite_dir(url)?;
        }
        let url = with_create_mode(url, engine);
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|source| DbError::Connect { engine, source })?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL lets readers work while one writer writes; NORMAL is durable with WAL.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| DbError::Connect { engine, source })?;
        Ok(Db { pool, engine })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, schema: Schema) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate(schema).await?;
        Ok(db)
    }

    pub async fn migrate(&self, schema: Schema) -> Result<(), DbError> {
        let migrator = match schema {
            Schema::Master => &MASTER_MIGRATIONS,
            Schema::Tenant => &TENANT_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that may write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so concurrent writers wait for each other (up to the busy
    /// timeout) instead of one failing with "database is locked" when it moves from reading
    /// to writing; PostgreSQL's plain `BEGIN` already behaves so.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite files are created when missing unless the URL says otherwise (`mode=`).
fn with_create_mode(url: &str, engine: Engine) -> String {
    if engine != Engine::Sqlite || url.contains("mode=") || url.contains(":memory:") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

fn create_sqlite_dir(url: &str) -> Result<(), DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch: the one timestamp format in every table.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A new app-generated id: a time-ordered UUID (v7), so ids sort by creation on both engines.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
