//! The master's internal API as this bot calls it: the bot's own API key as a bearer token, a
//! timeout, and errors that say what happened and what to do. The configuration and the
//! inbox both go through here.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shared::secret::SecretString;

use crate::{Error, Result};

/// Longest wait for the master's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct MasterApi {
    client: reqwest::Client,
    base: url::Url,
    api_key: SecretString,
}

impl MasterApi {
    pub fn new(master_url: &url::Url, api_key: SecretString) -> MasterApi {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        MasterApi {
            client,
            base: master_url.clone(),
            api_key,
        }
    }

    fn url(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// GETs `path`; `what` names the answer in errors ("the configuration").
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        let url = self.url(path);
        self.send(self.client.get(url.clone()), &url, what).await
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T> {
        let url = self.url(path);
        self.send(self.client.post(url.clone()).json(body), &url, what)
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &url::Url,
        what: &str,
    ) -> Result<T> {
        let response = request
            .bearer_auth(self.api_key.expose())
            .send()
            .await
            .map_err(|e| Error::Master(format!("{url} cannot be reached: {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::Master(format!(
                "it refused this bot's API key (401) for {what}; the provisioner gives the bot \
                 a new key when it recreates it, so if this lasts, platform staff should \
                 recreate the bot"
            )));
        }
        if !status.is_success() {
            return Err(Error::Master(format!(
                "{url} answered HTTP {status}; {what} is asked again later"
            )));
        }
        response
            .json()
            .await
            .map_err(|e| Error::Master(format!("{url} did not answer with {what}: {e}")))
    }
}
