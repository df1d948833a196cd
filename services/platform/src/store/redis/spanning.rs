//! The routing reads that span accounts: the skills with waiting conversations (for the
//! sweep) and the assignments pending announcement.

use super::*;

/// Commands in flight at once when a read spans accounts (slots) on a cluster.
const CLUSTER_READ_CONCURRENCY: usize = 16;

impl RedisStore {
    /// Skills with a non-empty queue, as (account, skill), over every active account.
    pub(super) async fn read_active_skills(&self) -> Result<Vec<(String, String)>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.active_accounts_key())).await?;
        let accounts = array(reply, "active accounts")?
            .into_iter()
            .map(|a| string(a, "active account"))
            .collect::<Result<Vec<_>, _>>()?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        // Each account's set lives in its account's slot: on a cluster one pipeline cannot
        // hold them (CROSSSLOT), so they are read one command each, a few at a time.
        let replies = if self.is_cluster() {
            let mut replies = Vec::with_capacity(accounts.len());
            for chunk in accounts.chunks(CLUSTER_READ_CONCURRENCY) {
                let mut cmds = Vec::with_capacity(chunk.len());
                for account in chunk {
                    let mut cmd = ::redis::cmd("SMEMBERS");
                    cmd.arg(self.akey(account, "active-skills"));
                    cmds.push(cmd);
                }
                let mut reads = Vec::with_capacity(cmds.len());
                for cmd in &cmds {
                    reads.push(self.query(cmd));
                }
                for reply in futures::future::join_all(reads).await {
                    replies.push(reply?);
                }
            }
            replies
        } else {
            let mut pipe = ::redis::pipe();
            for account in &accounts {
                pipe.cmd("SMEMBERS").arg(self.akey(account, "active-skills"));
            }
            self.query_pipe(&pipe).await?
        };
        if replies.len() != accounts.len() {
            return Err(corrupt("active skills: pipeline reply length"));
        }
        let mut out = Vec::new();
        for (account, skills) in accounts.iter().zip(replies) {
            for skill in array(skills, "active skills")? {
                out.push((account.clone(), string(skill, "active skill")?));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The account's assignments pending announcement claimed at or before `claimed_before_ms`,
    /// oldest first; routes no longer assigned leave the set.
    pub(super) async fn pending_claims(
        &self,
        account: &str,
        claimed_before_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Route)>, StoreError> {
        let reply = self
            .query(
                ::redis::cmd("ZRANGEBYSCORE")
                    .arg(self.akey(account, "unannounced"))
                    .arg("-inf")
                    .arg(claimed_before_ms)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit),
            )
            .await?;
        let mut items = array(reply, "unannounced")?.into_iter();
        let mut out = Vec::new();
        while let Some(member) = items.next() {
            let conversation = string(member, "unannounced member")?;
            let at = integral_score(&string(next(&mut items, "unannounced")?, "unannounced score")?)?;
            match self.route(account, &conversation).await? {
                Some(route) if route.status == RouteStatus::Assigned => out.push((at, route)),
                // No longer assigned: drop it, unless a newer claim came in meanwhile.
                Some(route) => self.announced(account, &conversation, route.version).await?,
                None => self.announced(account, &conversation, 0).await?,
            }
        }
        Ok(out)
    }
}
