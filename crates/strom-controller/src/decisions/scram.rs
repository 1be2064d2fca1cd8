//! SCRAM credentials (the controller's half of AlterUserScramCredentials, as
//! Kafka's `ScramControlManager`). The broker turns the client's salted
//! password into the stored and server keys before asking, so neither the
//! password nor the salted password reaches the controller or the log.

use std::collections::BTreeMap;

use strom_metadata::{MetadataImage, MetadataRecord};

/// Kafka's bounds on iterations (`ScramMechanism.minIterations`, `MAX_ITERATIONS`).
pub const SCRAM_MIN_ITERATIONS: i32 = 4096;
pub const SCRAM_MAX_ITERATIONS: i32 = 16384;

const NONE: i16 = 0;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const DUPLICATE_RESOURCE: i16 = 92;
const RESOURCE_NOT_FOUND: i16 = 91;
const UNACCEPTABLE_CREDENTIAL: i16 = 93;

/// A credential to set: the keys derived from the client's salted password.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramUpsertion {
    pub name: String,
    /// 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512; anything else is refused.
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramDeletion {
    pub name: String,
    pub mechanism: i8,
}

/// The result for one user, with Kafka's error code and message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterScramOutcome {
    pub user: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

fn known_mechanism(mechanism: i8) -> bool {
    mechanism == 1 || mechanism == 2
}

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<(), (i16, &'static str)> {
    if name.is_empty() {
        return Err((UNACCEPTABLE_CREDENTIAL, "Username must not be empty"));
    }
    if !known_mechanism(mechanism) {
        return Err((UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"));
    }
    Ok(())
}

/// Decides the alterations as Kafka does: each user may appear once in the
/// whole request (else DUPLICATE_RESOURCE for that user), deletions of
/// credentials that do not exist are RESOURCE_NOT_FOUND, iterations outside
/// 4096..=16384 are UNACCEPTABLE_CREDENTIAL. Successful deletions come
/// first, then upsertions, then the failures (by user name), as Kafka lists
/// them; each outcome carries the records that carry it out.
pub fn alter_scram_credentials(
    image: &MetadataImage,
    deletions: &[ScramDeletion],
    upsertions: &[ScramUpsertion],
) -> Vec<(AlterScramOutcome, Vec<MetadataRecord>)> {
    let mut errors: BTreeMap<String, (i16, &'static str)> = BTreeMap::new();
    let mut to_delete: Vec<&ScramDeletion> = Vec::new();
    let mut to_upsert: Vec<&ScramUpsertion> = Vec::new();
    let duplicate = (
        DUPLICATE_RESOURCE,
        "A user credential cannot be altered twice in the same request",
    );
    for d in deletions {
        if errors.contains_key(&d.name) {
            continue;
        }
        if let Some(i) = to_delete.iter().position(|x| x.name == d.name) {
            to_delete.remove(i);
            errors.insert(d.name.clone(), duplicate);
            continue;
        }
        let checked = check_name_and_mechanism(&d.name, d.mechanism).and_then(|()| {
            match image.scram_credential(&d.name, d.mechanism) {
                Some(_) => Ok(()),
                None => Err((
                    RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist",
                )),
            }
        });
        match checked {
            Ok(()) => to_delete.push(d),
            Err(e) => {
                errors.insert(d.name.clone(), e);
            }
        }
    }
    for u in upsertions {
        if errors.contains_key(&u.name) {
            continue;
        }
        let in_deletions = to_delete.iter().position(|x| x.name == u.name);
        let in_upserts = to_upsert.iter().position(|x| x.name == u.name);
        if in_deletions.is_some() || in_upserts.is_some() {
            if let Some(i) = in_deletions {
                to_delete.remove(i);
            }
            if let Some(i) = in_upserts {
                to_upsert.remove(i);
            }
            errors.insert(u.name.clone(), duplicate);
            continue;
        }
        let iterations = if u.iterations < SCRAM_MIN_ITERATIONS {
            Err((UNACCEPTABLE_CREDENTIAL, "Too few iterations"))
        } else if u.iterations > SCRAM_MAX_ITERATIONS {
            Err((UNACCEPTABLE_CREDENTIAL, "Too many iterations"))
        } else {
            Ok(())
        };
        let checked = check_name_and_mechanism(&u.name, u.mechanism).and(iterations);
        match checked {
            Ok(()) => to_upsert.push(u),
            Err(e) => {
                errors.insert(u.name.clone(), e);
            }
        }
    }
    let ok = |user: &str| AlterScramOutcome {
        user: user.to_owned(),
        error_code: NONE,
        error_message: None,
    };
    let mut decided = Vec::new();
    for d in to_delete {
        decided.push((
            ok(&d.name),
            vec![MetadataRecord::RemoveUserScramCredential {
                name: d.name.clone(),
                mechanism: d.mechanism,
            }],
        ));
    }
    for u in to_upsert {
        decided.push((
            ok(&u.name),
            vec![MetadataRecord::UserScramCredential {
                name: u.name.clone(),
                mechanism: u.mechanism,
                salt: u.salt.clone(),
                stored_key: u.stored_key.clone(),
                server_key: u.server_key.clone(),
                iterations: u.iterations,
            }],
        ));
    }
    for (user, (code, message)) in errors {
        decided.push((
            AlterScramOutcome {
                user,
                error_code: code,
                error_message: Some(message.to_owned()),
            },
            Vec::new(),
        ));
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: vec![1; 16],
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
        }
    }

    fn codes(decided: &[(AlterScramOutcome, Vec<MetadataRecord>)]) -> Vec<(String, i16)> {
        decided
            .iter()
            .map(|(o, _)| (o.user.clone(), o.error_code))
            .collect()
    }

    #[test]
    fn kafka_errors_per_user() {
        let image = MetadataImage::empty();
        let decided = alter_scram_credentials(
            &image,
            &[ScramDeletion {
                name: "ghost".into(),
                mechanism: 1,
            }],
            &[
                upsert("alice", 1, 8192),
                upsert("few", 1, 4095),
                upsert("many", 2, 16385),
                upsert("", 1, 4096),
                upsert("odd", 3, 4096),
                upsert("twice", 1, 4096),
                upsert("twice", 2, 4096),
            ],
        );
        assert_eq!(
            codes(&decided),
            vec![
                ("alice".into(), 0),
                ("".into(), UNACCEPTABLE_CREDENTIAL),
                ("few".into(), UNACCEPTABLE_CREDENTIAL),
                ("ghost".into(), RESOURCE_NOT_FOUND),
                ("many".into(), UNACCEPTABLE_CREDENTIAL),
                ("odd".into(), UNSUPPORTED_SASL_MECHANISM),
                ("twice".into(), DUPLICATE_RESOURCE),
            ]
        );
        assert_eq!(decided[0].1.len(), 1);
        assert!(decided[1..].iter().all(|(_, r)| r.is_empty()));
    }

    #[test]
    fn upsert_then_delete_through_the_image() {
        let image = MetadataImage::empty();
        let decided = alter_scram_credentials(&image, &[], &[upsert("bob", 2, 4096)]);
        let image = image.apply(&decided[0].1, 1).unwrap();
        let c = image.scram_credential("bob", 2).unwrap();
        assert_eq!(c.iterations, 4096);
        assert!(image.scram_credential("bob", 1).is_none());
        // In a snapshot.
        let rebuilt = MetadataImage::empty()
            .apply(&image.to_records(), 1)
            .unwrap();
        assert_eq!(rebuilt.scram_credential("bob", 2), Some(c));
        let decided = alter_scram_credentials(
            &image,
            &[ScramDeletion {
                name: "bob".into(),
                mechanism: 2,
            }],
            &[],
        );
        assert_eq!(codes(&decided), vec![("bob".into(), 0)]);
        let image = image.apply(&decided[0].1, 2).unwrap();
        assert!(image.scram_credential("bob", 2).is_none());
    }
}
