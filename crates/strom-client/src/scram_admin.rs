//! SCRAM credentials (KIP-554): DescribeUserScramCredentials and
//! AlterUserScramCredentials, as Kafka's Admin client sends them: the
//! password is salted and iterated here, and only the salted password
//! travels.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient};
use crate::error::{Error, ErrorCode};
use crate::scram::{random_bytes, ScramMechanism};

/// One user's credentials as described: (mechanism type, iterations), or
/// the error for that user.
pub type UserScramDescription = (String, Result<Vec<(i8, i32)>, (ErrorCode, Option<String>)>);

/// A credential to set.
#[derive(Clone)]
pub struct ScramUpsert {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub iterations: i32,
    pub password: String,
}

impl AdminClient {
    /// Every user's credentials (`users` empty), or those of `users`.
    pub async fn describe_user_scram_credentials(
        &mut self,
        users: &[String],
    ) -> Result<Vec<UserScramDescription>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = DescribeUserScramCredentialsRequest::default();
                req.users = (!users.is_empty()).then(|| {
                    users
                        .iter()
                        .map(|u| {
                            let mut n = UserName::default();
                            n.name = str_bytes(u);
                            n
                        })
                        .collect()
                });
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::DescribeUserScramCredentials,
                code,
                message: resp.error_message.map(|m| m.to_string()),
            });
        }
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let user = r.user.to_string();
                match ErrorCode::from_code(r.error_code) {
                    Some(code) => (user, Err((code, r.error_message.map(|m| m.to_string())))),
                    None => (
                        user,
                        Ok(r.credential_infos
                            .iter()
                            .map(|c| (c.mechanism, c.iterations))
                            .collect()),
                    ),
                }
            })
            .collect())
    }

    /// Sets and deletes credentials; one result per user.
    pub async fn alter_user_scram_credentials(
        &mut self,
        upserts: &[ScramUpsert],
        deletions: &[(String, ScramMechanism)],
    ) -> Result<Vec<(String, Result<(), (ErrorCode, Option<String>)>)>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = AlterUserScramCredentialsRequest::default();
                req.upsertions = upserts
                    .iter()
                    .map(|u| {
                        let salt = random_bytes(32);
                        let salted = u.mechanism.salted_password(
                            u.password.as_bytes(),
                            &salt,
                            u.iterations.max(1) as u32,
                        );
                        let mut x = ScramCredentialUpsertion::default();
                        x.name = str_bytes(&u.user);
                        x.mechanism = u.mechanism.type_id();
                        x.iterations = u.iterations;
                        x.salt = salt.into();
                        x.salted_password = salted.into();
                        x
                    })
                    .collect();
                req.deletions = deletions
                    .iter()
                    .map(|(user, m)| {
                        let mut d = ScramCredentialDeletion::default();
                        d.name = str_bytes(user);
                        d.mechanism = m.type_id();
                        d
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        Ok(resp
            .results
            .into_iter()
            .map(|r| {
                let user = r.user.to_string();
                match ErrorCode::from_code(r.error_code) {
                    Some(code) => (user, Err((code, r.error_message.map(|m| m.to_string())))),
                    None => (user, Ok(())),
                }
            })
            .collect())
    }
}
