//! Fresh databases for tests, on both engines. Every store-facing test runs once on SQLite and
//! once on PostgreSQL. PostgreSQL is found through `MADAR_TEST_POSTGRES_URL` (default
//! `postgres://madar:madar@127.0.0.1:5432/postgres`); each test gets its own new database.
//!
//! Outside CI a missing PostgreSQL skips the PostgreSQL half with a loud note on stderr. Under
//! `CI=true` it is a failure: CI must never silently skip a test.

use crate::db::{sqlite_url, Db, DbError, Engine, Schema};

pub const POSTGRES_URL_VAR: &str = "MADAR_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://madar:madar@127.0.0.1:5432/postgres";

/// A database made for one test. SQLite files live in a temporary directory removed on drop;
/// PostgreSQL databases are dropped by [`TestDb::cleanup`] or left for the next CI machine.
#[derive(Debug)]
pub struct TestDb {
    pub db: Db,
    pub url: String,
    pub engine: Engine,
    _dir: Option<tempfile::TempDir>,
    admin_url: Option<String>,
    name: Option<String>,
}

impl TestDb {
    /// A fresh, migrated database, or `None` when PostgreSQL is wanted but absent outside CI.
    pub async fn fresh(engine: Engine, schema: Schema) -> Option<TestDb> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite(schema).await),
            Engine::Postgres => Self::postgres(schema).await,
        }
    }

    async fn sqlite(schema: Schema) -> TestDb {
        let dir = tempfile::TempDir::new().expect("create a temporary directory");
        let url = sqlite_url(&dir.path().join("test.db"));
        let db = Db::open(&url, schema).await.expect("open a SQLite test db");
        TestDb {
            db,
            url,
            engine: Engine::Sqlite,
            _dir: Some(dir),
            admin_url: None,
            name: None,
        }
    }

    async fn postgres(schema: Schema) -> Option<TestDb> {
        let admin_url =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let admin = match Db::connect(&admin_url).await {
            Ok(db) => db,
            Err(e) => {
                if running_in_ci() {
                    panic!(
                        "CI=true but PostgreSQL is not reachable at {POSTGRES_URL_VAR} \
                         ({}): {e}. .ci/run must install and start it.",
                        redact_password(&admin_url)
                    );
                }
                eprintln!(
                    "NOTE: PostgreSQL half of this test skipped: cannot connect to {} ({e}). \
                     Set {POSTGRES_URL_VAR} to run it (CI always does).",
                    redact_password(&admin_url)
                );
                return None;
            }
        };
        let name = format!("madar_test_{}", crate::db::new_id());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .expect("create a PostgreSQL test database");
        admin.close().await;
        let url = replace_database(&admin_url, &name);
        let db = Db::open(&url, schema)
            .await
            .expect("open the PostgreSQL test db");
        Some(TestDb {
            db,
            url,
            engine: Engine::Postgres,
            _dir: None,
            admin_url: Some(admin_url),
            name: Some(name),
        })
    }

    /// Drops a PostgreSQL test database (SQLite's goes with its directory).
    pub async fn cleanup(self) -> Result<(), DbError> {
        self.db.close().await;
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            let admin = Db::connect(admin_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await?;
            admin.close().await;
        }
        Ok(())
    }
}

pub fn running_in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Declares one async test per engine from a function `async fn(Engine)`.
///
/// ```text
/// async fn a_customer_sees_the_packages(engine: Engine) { ... }
/// shared::on_both_engines!(a_customer_sees_the_packages);
/// ```
#[macro_export]
macro_rules! on_both_engines {
    ($($story:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::$story($crate::db::Engine::Sqlite).await
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::$story($crate::db::Engine::Postgres).await
                }
            )+
        }
    };
}
