//! The scenario's `[automessages]` section against the target, at setup: through
//! `AutomaticMessagesAdminService`, every event of the catalogue gets its marker text
//! (`scenario::automessages::marker`) and is switched on or off as the section says, with the
//! timers; then the feature is turned on for the account (R14.1), with no prefix on text
//! channels (R14.9) so the texts arrive as set.

use switchyard_proto::automessages::v1::automatic_messages_admin_service_client::AutomaticMessagesAdminServiceClient;
use switchyard_proto::automessages::v1::{SetAutomaticMessageRequest, SetAutomaticMessagesAccountRequest, Toggle};

use crate::auth::Conn;
use crate::retry;
use crate::scenario::automessages::{marker, EVENTS};
use crate::scenario::Automessages;

/// The account-wide settings of every event, then the switch, per account. Each call sets a
/// whole setting, so a retry is harmless.
pub(super) async fn apply(section: &Automessages, accounts: &[String], automessages: Conn) -> anyhow::Result<()> {
    let admin = AutomaticMessagesAdminServiceClient::new(automessages);
    for account in accounts {
        for event in EVENTS {
            let (on, timer_seconds) = section.configured(event);
            let request = SetAutomaticMessageRequest {
                account_id: account.clone(),
                expected_revision: 0,
                skill_id: String::new(),
                event: event as i32,
                enabled: if on { Toggle::On } else { Toggle::Off } as i32,
                language: String::new(),
                text: Some(marker(event)),
                timer_seconds,
            };
            retry::setup(
                || format!("setting the automatic message {} of {account}", event.as_str_name()),
                || {
                    let (mut admin, request) = (admin.clone(), request.clone());
                    async move { admin.set_automatic_message(request).await }
                },
            )
            .await?;
        }
        let request = SetAutomaticMessagesAccountRequest {
            account_id: account.clone(),
            expected_revision: 0,
            enabled: true,
            default_language: String::new(),
            text_channel_prefix: String::new(),
        };
        retry::setup(
            || format!("turning automatic messages on for {account}"),
            || {
                let (mut admin, request) = (admin.clone(), request.clone());
                async move { admin.set_automatic_messages_account(request).await }
            },
        )
        .await?;
    }
    Ok(())
}
