//! The accounts' routing configuration documents on Redis: one hash per account (`rev`,
//! `doc`), saved by compare and set (`save_config.lua`).

use super::*;

impl RedisStore {
    pub(super) async fn read_routing_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        let reply = self
            .query(::redis::cmd("HMGET").arg(self.akey(account_id, "routing-config")).arg("rev").arg("doc"))
            .await?;
        let mut fields = array(reply, "routing config")?.into_iter();
        let revision = optional_bytes(next(&mut fields, "routing config")?, "routing config revision")?;
        let doc = optional_bytes(next(&mut fields, "routing config")?, "routing config")?;
        match (revision, doc) {
            (None, _) => Ok((0, None)),
            (Some(revision), Some(doc)) => {
                Ok((parse_u64(&revision, "routing config revision")?, Some(Bytes::from(doc))))
            }
            (Some(_), None) => Err(corrupt("routing config: revision without document")),
        }
    }

    pub(super) async fn read_routing_config_revision(&self, account_id: &str) -> Result<u64, StoreError> {
        let reply = self.query(::redis::cmd("HGET").arg(self.akey(account_id, "routing-config")).arg("rev")).await?;
        match optional_bytes(reply, "routing config revision")? {
            Some(revision) => parse_u64(&revision, "routing config revision"),
            None => Ok(0),
        }
    }

    pub(super) async fn run_save_routing_config(
        &self,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        let mut inv = self.scripts.save_config.prepare_invoke();
        inv.key(self.akey(account_id, "routing-config")).arg(self.base(account_id)).arg(expected).arg(doc.as_ref());
        let what = "save_routing_config";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        let revision: u64 = integer(next(&mut rest, what)?, what)?;
        match tag.as_str() {
            "saved" => Ok(ConfigSave::Saved { revision }),
            "conflict" => Ok(ConfigSave::Conflict { current: revision }),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }
}
