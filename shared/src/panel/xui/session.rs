//! Signing in to 3x-UI and sending authenticated calls: cookie login (with the CSRF token
//! 3.x wants on unsafe requests) or a Bearer API token, generation detection, and one
//! fresh login when the panel answers 404 (its answer to an unknown session).

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::super::error::PanelError;
use super::super::http::{common_status_error, read_text, shorten, Retry};
use super::super::types::PanelCredentials;
use super::model::Envelope;
use super::{looks_duplicate, objects, refusal, XuiPanel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Generation {
    Two,
    Three,
}

#[derive(Debug, Default)]
pub(super) struct Session {
    ready: bool,
    generation: Option<Generation>,
    csrf: Option<String>,
    /// Bumped at every login, so a stale failure does not throw away a newer session.
    epoch: u64,
}

#[derive(Debug, Clone)]
pub(super) struct SessionView {
    generation: Generation,
    csrf: Option<String>,
    epoch: u64,
}

pub(super) enum Probe {
    Works,
    Missing,
}

impl XuiPanel {
    // -----------------------------------------------------------------------------------
    // Session: login, CSRF token, generation
    // -----------------------------------------------------------------------------------

    pub(super) async fn session(&self) -> Result<SessionView, PanelError> {
        let mut session = self.session.lock().await;
        if !session.ready {
            let (generation, csrf) = self.establish().await?;
            session.ready = true;
            session.generation = Some(generation);
            session.csrf = csrf;
            session.epoch += 1;
        }
        Ok(SessionView {
            generation: session.generation.unwrap_or(Generation::Two),
            csrf: session.csrf.clone(),
            epoch: session.epoch,
        })
    }

    pub(super) async fn forget_session(&self, epoch: u64) {
        let mut session = self.session.lock().await;
        if session.epoch == epoch {
            session.ready = false;
        }
    }

    pub(super) async fn renew_csrf(&self, epoch: u64) -> Result<(), PanelError> {
        let fresh = self.fetch_csrf().await?;
        let mut session = self.session.lock().await;
        if session.epoch == epoch {
            session.csrf = fresh;
        }
        Ok(())
    }

    pub(super) async fn establish(&self) -> Result<(Generation, Option<String>), PanelError> {
        match &self.credentials {
            PanelCredentials::ApiToken(_) => {
                // The panel's own page answers at the right base path, 404 elsewhere.
                let response = self
                    .http
                    .send(self.http.client.get(self.url.as_url().clone()))
                    .await?;
                if response.status().as_u16() == 404 {
                    return Err(PanelError::WrongBasePath);
                }
                match self
                    .probe("panel/api/clients/list/paged?page=1&pageSize=1")
                    .await?
                {
                    Probe::Works => Ok((Generation::Three, None)),
                    // Either the token is refused, or a 2.x panel, which has no API tokens.
                    Probe::Missing => Err(PanelError::WrongCredentials),
                }
            }
            PanelCredentials::Password { username, password } => {
                let before = self.fetch_csrf().await?;
                let mut request = self.http.client.post(self.url.join("login")?).json(&json!({
                    "username": username,
                    "password": password.expose(),
                    "twoFactorCode": "",
                }));
                if let Some(csrf) = &before {
                    request = request.header("X-CSRF-Token", csrf);
                }
                let response = self.http.send(request).await?;
                let status = response.status().as_u16();
                let body = read_text(response).await?;
                if status == 404 || status == 405 {
                    return Err(PanelError::WrongBasePath);
                }
                if let Some(error) = common_status_error(status, &body) {
                    return Err(error);
                }
                match serde_json::from_str::<Envelope>(&body) {
                    Ok(envelope) if envelope.success => {}
                    Ok(_) => return Err(PanelError::WrongCredentials),
                    // Not 3x-UI (some other site answers at this address).
                    Err(_) => return Err(PanelError::WrongBasePath),
                }
                let csrf = self.fetch_csrf().await?;
                let generation = match self
                    .probe("panel/api/clients/list/paged?page=1&pageSize=1")
                    .await?
                {
                    Probe::Works => Generation::Three,
                    Probe::Missing => match self.probe("panel/api/inbounds/list").await? {
                        Probe::Works => Generation::Two,
                        Probe::Missing => {
                            return Err(PanelError::Unexpected(
                                "the login worked but the panel API answers 404".into(),
                            ))
                        }
                    },
                };
                Ok((generation, csrf))
            }
        }
    }

    /// 3.x's CSRF token for this session; `None` on 2.x, which has no such route.
    pub(super) async fn fetch_csrf(&self) -> Result<Option<String>, PanelError> {
        let response = self
            .http
            .send(self.http.client.get(self.url.join("csrf-token")?))
            .await?;
        if response.status().as_u16() != 200 {
            return Ok(None);
        }
        let body = read_text(response).await?;
        Ok(serde_json::from_str::<Envelope>(&body)
            .ok()
            .filter(|envelope| envelope.success)
            .and_then(|envelope| envelope.obj.as_str().map(str::to_string)))
    }

    /// Whether an API route answers (with the current cookie or token).
    pub(super) async fn probe(&self, path: &str) -> Result<Probe, PanelError> {
        let mut request = self.http.client.get(self.url.join(path)?);
        if let Some(token) = self.bearer() {
            request = request.bearer_auth(token);
        }
        let response = self.http.send(request).await?;
        let status = response.status().as_u16();
        let body = read_text(response).await?;
        if status == 404 {
            return Ok(Probe::Missing);
        }
        if let Some(error) = common_status_error(status, &body) {
            return Err(error);
        }
        match serde_json::from_str::<Envelope>(&body) {
            Ok(envelope) if status == 200 && envelope.success => Ok(Probe::Works),
            _ => Ok(Probe::Missing),
        }
    }

    // -----------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------

    /// One authenticated call; logs in again once on 404/401 and renews CSRF once on 403.
    pub(super) async fn call_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Envelope, PanelError> {
        let url = self.url.join(path)?;
        let mut relogged = false;
        let mut renewed_csrf = false;
        loop {
            let session = self.session().await?;
            let mut request = self
                .http
                .client
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(token) = self.bearer() {
                request = request.bearer_auth(token);
            } else if *method != Method::GET {
                if let Some(csrf) = &session.csrf {
                    request = request.header("X-CSRF-Token", csrf);
                }
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = self.http.send(request).await?;
            let status = response.status().as_u16();
            let password_login = self.bearer().is_none();
            if status == 404 || status == 401 {
                if password_login && !relogged {
                    tracing::info!("3x-UI session not accepted; logging in again");
                    self.forget_session(session.epoch).await;
                    relogged = true;
                    continue;
                }
                return Err(if password_login {
                    PanelError::Unexpected(format!(
                        "{path} answers {status} even after a fresh login"
                    ))
                } else {
                    PanelError::WrongCredentials
                });
            }
            if status == 403 && password_login && !renewed_csrf {
                self.renew_csrf(session.epoch).await?;
                renewed_csrf = true;
                continue;
            }
            let text = read_text(response).await?;
            if let Some(error) = common_status_error(status, &text) {
                return Err(error);
            }
            return match (status, serde_json::from_str::<Envelope>(&text)) {
                (200, Ok(envelope)) => Ok(envelope),
                (200, Err(_)) => Err(PanelError::Unexpected(format!(
                    "not a 3x-UI answer: {}",
                    shorten(&text)
                ))),
                (_, Ok(envelope)) if looks_duplicate(&envelope.msg) => {
                    Err(PanelError::AlreadyExists)
                }
                (_, Ok(envelope)) => Err(PanelError::Rejected {
                    status,
                    message: shorten(&envelope.msg),
                }),
                (_, Err(_)) => Err(PanelError::Rejected {
                    status,
                    message: shorten(&text),
                }),
            };
        }
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Envelope, PanelError> {
        self.http
            .retrying(retry, || self.call_once(&method, path, body.as_ref()))
            .await
    }

    /// A call whose `success: false` is an error.
    pub(super) async fn call_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Value, PanelError> {
        let envelope = self.call(method, path, body, retry).await?;
        if envelope.success {
            Ok(envelope.obj)
        } else {
            Err(refusal(&envelope.msg))
        }
    }

    pub(super) async fn generation(&self) -> Result<Generation, PanelError> {
        Ok(self.session().await?.generation)
    }

    pub(super) async fn raw_inbounds(&self) -> Result<Vec<Map<String, Value>>, PanelError> {
        let obj = self
            .call_ok(Method::GET, "panel/api/inbounds/list", None, Retry::Safe)
            .await?;
        Ok(objects(&obj))
    }
}
