//! CreateAcls and DeleteAcls as the active controller decides them (Kafka's
//! `AclControlManager`): each new ACL is checked and gets a fresh id unless
//! an equal one exists; each filter removes every stored ACL it matches.

use rand::Rng;
use strom_metadata::acl::{AclBinding, AclBindingFilter};
use strom_metadata::{MetadataImage, MetadataRecord};

use crate::error::ControllerError;

/// One creation's outcome (in request order) with the records that carry it out.
pub fn create_acls(
    image: &MetadataImage,
    acls: &[AclBinding],
    rng: &mut impl Rng,
) -> Vec<(Result<(), ControllerError>, Vec<MetadataRecord>)> {
    let mut created: Vec<&AclBinding> = Vec::new();
    acls.iter()
        .map(|acl| {
            if let Err(reason) = acl.validate() {
                return (Err(ControllerError::InvalidRequest(reason)), Vec::new());
            }
            // Creating an ACL that exists already succeeds and adds nothing.
            if image.acls().find(acl).is_some() || created.contains(&acl) {
                return (Ok(()), Vec::new());
            }
            created.push(acl);
            let mut id: u128 = rng.gen();
            while id == 0 || image.acls().get(id).is_some() {
                id = rng.gen();
            }
            (
                Ok(()),
                vec![MetadataRecord::AccessControlEntry {
                    id,
                    acl: acl.clone(),
                }],
            )
        })
        .collect()
}

/// A filter's deleted ACLs, or why it was refused.
pub type DeleteOutcome = Result<Vec<AclBinding>, ControllerError>;

/// Each filter's matching ACLs (in request order) with the records that
/// remove them; an ACL two filters match is removed once.
pub fn delete_acls(
    image: &MetadataImage,
    filters: &[AclBindingFilter],
) -> Vec<(DeleteOutcome, Vec<MetadataRecord>)> {
    let mut removed: Vec<u128> = Vec::new();
    filters
        .iter()
        .map(|filter| {
            if let Err(reason) = filter.validate() {
                return (Err(ControllerError::InvalidRequest(reason)), Vec::new());
            }
            let mut matched = Vec::new();
            let mut records = Vec::new();
            for (id, acl) in image.acls().iter() {
                if filter.matches(acl) {
                    matched.push(acl.clone());
                    if !removed.contains(&id) {
                        removed.push(id);
                        records.push(MetadataRecord::RemoveAccessControlEntry { id });
                    }
                }
            }
            (Ok(matched), records)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use strom_metadata::acl::*;

    fn acl(name: &str, op: AclOperation) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.to_owned(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".to_owned(),
            host: "*".to_owned(),
            operation: op,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn creations_are_validated_deduplicated_and_deletions_remove_each_acl_once() {
        let mut rng = StdRng::seed_from_u64(1);
        let image = MetadataImage::empty();
        let mut bad = acl("t", AclOperation::Read);
        bad.operation = AclOperation::Any;
        let decided = create_acls(
            &image,
            &[
                acl("t", AclOperation::Read),
                bad,
                acl("t", AclOperation::Read),
            ],
            &mut rng,
        );
        assert!(decided[0].0.is_ok() && decided[0].1.len() == 1);
        assert!(matches!(
            &decided[1].0,
            Err(ControllerError::InvalidRequest(m)) if m == "Invalid operation ANY"
        ));
        assert!(decided[2].0.is_ok() && decided[2].1.is_empty());
        let records: Vec<_> = decided.into_iter().flat_map(|(_, r)| r).collect();
        let image = image.apply(&records, 0).unwrap();
        let again = create_acls(&image, &[acl("t", AclOperation::Read)], &mut rng);
        assert!(again[0].1.is_empty());

        let all = AclBindingFilter::any();
        let mut read = AclBindingFilter::any();
        read.operation = AclOperation::Read;
        let deleted = delete_acls(&image, &[all, read]);
        assert_eq!(deleted[0].0.as_ref().unwrap().len(), 1);
        assert_eq!(deleted[1].0.as_ref().unwrap().len(), 1);
        assert_eq!(deleted[0].1.len() + deleted[1].1.len(), 1);
    }
}
