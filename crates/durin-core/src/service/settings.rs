//! Settings per (user, client): a JSON object that survives logout and re-login.

use serde_json::{Map, Value};

use super::Durin;
use crate::{AuthError, ClientName, SettingsStore, UserId};

impl Durin {
    /// The settings of `user` for `client`; an empty object when none were stored.
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`] without a settings store; [`AuthError::Unavailable`].
    pub async fn settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Map<String, Value>, AuthError> {
        Ok(self
            .settings_store()?
            .get_settings(user, client)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the settings of `user` for `client`.
    ///
    /// # Errors
    /// [`AuthError::SettingsTooLarge`] when the object's JSON exceeds the limit (16 KiB
    /// by default; nothing changes then); [`AuthError::NotConfigured`];
    /// [`AuthError::Unavailable`].
    pub async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &Map<String, Value>,
    ) -> Result<(), AuthError> {
        let limit = self.inner.config.settings_limit;
        let size = serde_json::to_vec(settings).map_or(usize::MAX, |json| json.len());
        if size > limit {
            return Err(AuthError::SettingsTooLarge { limit });
        }
        Ok(self
            .settings_store()?
            .put_settings(user, client, settings)
            .await?)
    }

    /// Deletes the settings of `user` for `client`. Returns whether there were any.
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`]; [`AuthError::Unavailable`].
    pub async fn clear_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, AuthError> {
        Ok(self.settings_store()?.delete_settings(user, client).await?)
    }

    /// The largest settings object accepted, in bytes of JSON.
    pub fn settings_limit(&self) -> usize {
        self.inner.config.settings_limit
    }

    fn settings_store(&self) -> Result<&dyn SettingsStore, AuthError> {
        self.inner
            .config
            .settings
            .as_deref()
            .ok_or(AuthError::NotConfigured("no settings store"))
    }
}
