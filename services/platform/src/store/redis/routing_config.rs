//! The accounts' configuration documents on Redis (the routing configuration, the
//! automatic-message settings): one hash per account and document (`rev`, `doc`), saved by
//! compare and set (`save_config.lua`).

use super::*;

/// The key names of the documents.
pub(super) const ROUTING_CONFIG: &str = "routing-config";
pub(super) const AUTOMESSAGES_CONFIG: &str = "automessages-config";

impl RedisStore {
    pub(super) async fn read_config_doc(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<(u64, Option<Bytes>), StoreError> {
        let reply = self.query(::redis::cmd("HMGET").arg(self.akey(account_id, name)).arg("rev").arg("doc")).await?;
        let mut fields = array(reply, "config")?.into_iter();
        let revision = optional_bytes(next(&mut fields, "config")?, "config revision")?;
        let doc = optional_bytes(next(&mut fields, "config")?, "config")?;
        match (revision, doc) {
            (None, _) => Ok((0, None)),
            (Some(revision), Some(doc)) => Ok((parse_u64(&revision, "config revision")?, Some(Bytes::from(doc)))),
            (Some(_), None) => Err(corrupt(format!("{name}: revision without document"))),
        }
    }

    pub(super) async fn read_config_revision(&self, account_id: &str, name: &str) -> Result<u64, StoreError> {
        let reply = self.query(::redis::cmd("HGET").arg(self.akey(account_id, name)).arg("rev")).await?;
        match optional_bytes(reply, "config revision")? {
            Some(revision) => parse_u64(&revision, "config revision"),
            None => Ok(0),
        }
    }

    pub(super) async fn run_save_config(
        &self,
        account_id: &str,
        name: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        let mut inv = self.scripts.save_config.prepare_invoke();
        inv.key(self.akey(account_id, name)).arg(self.base(account_id)).arg(expected).arg(doc.as_ref());
        let what = "save_config";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        let revision: u64 = integer(next(&mut rest, what)?, what)?;
        match tag.as_str() {
            "saved" => Ok(ConfigSave::Saved { revision }),
            "conflict" => Ok(ConfigSave::Conflict { current: revision }),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }
}
