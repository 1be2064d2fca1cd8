//! Client quotas as the metadata log holds them (Kafka's `ClientQuotaRecord`
//! and `ClientQuotasImage`): an entity (user, client-id, both, or an ip, each
//! named or the `<default>` of its type) and its quota values by key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Kafka's entity type names (`ClientQuotaEntity.USER`, ...).
pub const QUOTA_ENTITY_USER: &str = "user";
pub const QUOTA_ENTITY_CLIENT_ID: &str = "client-id";
pub const QUOTA_ENTITY_IP: &str = "ip";

/// A quota entity: entity type to name, `None` naming the type's default
/// (Kafka's null entity name, shown as `<default>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientQuotaEntity(pub BTreeMap<String, Option<String>>);

impl ClientQuotaEntity {
    pub fn new<'a>(parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        ClientQuotaEntity(
            parts
                .into_iter()
                .map(|(t, n)| (t.to_owned(), n.map(str::to_owned)))
                .collect(),
        )
    }

    /// The name given for `entity_type`: `None` when the entity has no part
    /// of that type, `Some(None)` for its default.
    pub fn get(&self, entity_type: &str) -> Option<Option<&str>> {
        self.0.get(entity_type).map(|n| n.as_deref())
    }
}

impl fmt::Display for ClientQuotaEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (t, n) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{t}={}", n.as_deref().unwrap_or("<default>"))?;
        }
        Ok(())
    }
}

/// A quota value (Kafka's `float64`). Equality is bitwise, so records and
/// images can be compared exactly.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// Every entity's quotas, as the image holds them.
pub type ClientQuotas = BTreeMap<ClientQuotaEntity, BTreeMap<String, QuotaValue>>;
