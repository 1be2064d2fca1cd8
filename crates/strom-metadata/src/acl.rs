//! Access control lists as Kafka's `StandardAuthorizer` sees them: the ACL
//! model (resource types, pattern types, operations, permissions with
//! Kafka's wire codes), filters for DescribeAcls/DeleteAcls, and
//! [`AclIndex`], the lookup structure every decision goes through. Pure: no
//! I/O, no clock.
//!
//! The decision (Kafka's `StandardAuthorizerData.findAclRule`): of the ACLs
//! whose pattern covers the resource (LITERAL with its name, LITERAL `*`,
//! PREFIXED with a prefix of its name), those for the principal (or
//! `User:*`) and host (or `*`) that cover the operation decide: any DENY
//! denies, else any ALLOW allows; with none of them, a resource that has
//! some ACL is denied, and one without any follows
//! `allow.everyone.if.no.acl.found`. ALLOW ACLs for READ, WRITE, DELETE or
//! ALTER imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, ALL covers
//! every operation; a DENY covers only its own operation (or ALL).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The name of the one CLUSTER resource (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// The wildcard resource name, principal name and host.
pub const WILDCARD: &str = "*";
/// The principal that matches every `User` principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            /// The value of a wire code; codes Kafka does not define are UNKNOWN.
            pub fn from_code(code: i8) -> $name {
                match code { $($code => $name::$variant,)* _ => $name::Unknown }
            }

            /// Kafka's name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, ...).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// The value named `text` (case-insensitive, `-` or `_`).
            pub fn parse(text: &str) -> Option<$name> {
                let wanted = text.trim().replace('-', "_").to_ascii_uppercase();
                let wanted = wanted.replace("CLUSTERACTION", "CLUSTER_ACTION")
                    .replace("DESCRIBECONFIGS", "DESCRIBE_CONFIGS")
                    .replace("ALTERCONFIGS", "ALTER_CONFIGS")
                    .replace("IDEMPOTENTWRITE", "IDEMPOTENT_WRITE")
                    .replace("TRANSACTIONALID", "TRANSACTIONAL_ID")
                    .replace("DELEGATIONTOKEN", "DELEGATION_TOKEN")
                    .replace("CREATETOKENS", "CREATE_TOKENS")
                    .replace("DESCRIBETOKENS", "DESCRIBE_TOKENS");
                $name::ALL.iter().copied().find(|v| v.name() == wanted)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

coded_enum!(
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

coded_enum!(
    /// Kafka's `PatternType`.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

coded_enum!(
    /// Kafka's `AclOperation`.
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
);

coded_enum!(
    /// Kafka's `AclPermissionType`.
    AclPermission {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

impl AclOperation {
    /// Whether an ALLOW ACL for `self` allows `wanted` (ALL allows
    /// everything; DESCRIBE and DESCRIBE_CONFIGS are implied by the
    /// operations that need them).
    pub fn allow_covers(self, wanted: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }

    /// Whether a DENY ACL for `self` denies `wanted`: only its own operation, or ALL.
    pub fn deny_covers(self, wanted: AclOperation) -> bool {
        self == AclOperation::All || self == wanted
    }

    /// The operations Kafka lists in `authorized_operations` for a resource type.
    pub fn supported_for(resource_type: ResourceType) -> &'static [AclOperation] {
        use AclOperation::*;
        match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            _ => &[],
        }
    }
}

/// One ACL (Kafka's `StandardAcl`, an `AclBinding` of a LITERAL or PREFIXED
/// pattern).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for every user.
    pub principal: String,
    /// `*`, an IP address, or a CIDR block (`10.0.0.0/8`).
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// Kafka's checks of a new ACL (the broker's `AclApis` and the
    /// controller's `AclControlManager.validateNewAcl`): the message of
    /// INVALID_REQUEST when it cannot be stored.
    pub fn validate(&self) -> Result<(), String> {
        match self.resource_type {
            ResourceType::Unknown | ResourceType::Any => {
                return Err(format!("Invalid resourceType {}", self.resource_type))
            }
            _ => {}
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(format!("Invalid patternType {}", self.pattern_type));
        }
        if matches!(self.operation, AclOperation::Unknown | AclOperation::Any) {
            return Err(format!("Invalid operation {}", self.operation));
        }
        if !matches!(self.permission, AclPermission::Allow | AclPermission::Deny) {
            return Err(format!("Invalid permissionType {}", self.permission));
        }
        if self.resource_name.is_empty() {
            return Err("Invalid empty resource name".to_owned());
        }
        if self.resource_type == ResourceType::Cluster
            && self.resource_name != CLUSTER_RESOURCE_NAME
        {
            return Err(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_RESOURCE_NAME}"
            ));
        }
        match self.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => {
                return Err(format!(
                    "Could not parse principal from `{}` (no colon is found between principal type and principal name)",
                    self.principal
                ))
            }
        }
        if HostMatcher::parse(&self.host).is_none() {
            return Err(format!("Invalid host {}", self.host));
        }
        Ok(())
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(pattern=ResourcePattern(resourceType={}, name={}, patternType={}), entry=(principal={}, host={}, operation={}, permissionType={}))",
            self.resource_type,
            self.resource_name,
            self.pattern_type,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

/// Kafka's `AclBindingFilter`: `None` fields match anything; pattern type
/// ANY matches any pattern with exactly this name, MATCH any pattern that
/// covers the name (LITERAL equal, LITERAL `*`, PREFIXED prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBindingFilter {
    /// The filter that matches every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Kafka's `validateFilter`: a filter with an UNKNOWN field matches
    /// nothing and is refused with INVALID_REQUEST.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
        {
            return Err("Unknown patternFilter.".to_owned());
        }
        if self.operation == AclOperation::Unknown || self.permission == AclPermission::Unknown {
            return Err("Unknown entryFilter.".to_owned());
        }
        Ok(())
    }

    pub fn matches(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let name_ok = match (&self.resource_name, self.pattern_type) {
            (_, PatternType::Unknown) => false,
            (None, PatternType::Any | PatternType::Match) => true,
            (None, wanted) => wanted == acl.pattern_type,
            (Some(name), PatternType::Any) => *name == acl.resource_name,
            (Some(name), PatternType::Match) => match acl.pattern_type {
                PatternType::Literal => acl.resource_name == *name || acl.resource_name == WILDCARD,
                PatternType::Prefixed => name.starts_with(&acl.resource_name),
                _ => false,
            },
            (Some(name), wanted) => wanted == acl.pattern_type && *name == acl.resource_name,
        };
        name_ok
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermission::Any || self.permission == acl.permission)
    }
}

/// The host part of an ACL: `*`, one address, or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostMatcher {
    Any,
    Exact(IpAddr),
    Cidr(IpAddr, u8),
}

impl HostMatcher {
    fn parse(host: &str) -> Option<HostMatcher> {
        if host == WILDCARD {
            return Some(HostMatcher::Any);
        }
        if let Some((addr, bits)) = host.split_once('/') {
            let addr: IpAddr = addr.parse().ok()?;
            let bits: u8 = bits.parse().ok()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(HostMatcher::Cidr(addr, bits));
        }
        host.parse().ok().map(HostMatcher::Exact)
    }

    fn matches(self, client: IpAddr) -> bool {
        match self {
            HostMatcher::Any => true,
            HostMatcher::Exact(addr) => addr == client || canonical(addr) == canonical(client),
            HostMatcher::Cidr(net, bits) => in_block(net, bits, client),
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn in_block(net: IpAddr, bits: u8, client: IpAddr) -> bool {
    match (canonical(net), canonical(client)) {
        (IpAddr::V4(n), IpAddr::V4(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits.min(32)))
            };
            u32::from(n) & mask == u32::from(c) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits.min(128)))
            };
            u128::from(n) & mask == u128::from(c) & mask
        }
        _ => false,
    }
}

/// One stored ACL, ready to match.
#[derive(Clone, Debug)]
struct IndexedAcl {
    principal: String,
    host: HostMatcher,
    operation: AclOperation,
    permission: AclPermission,
}

/// The outcome of one decision, before super users and the no-ACL rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclMatch {
    Denied,
    Allowed,
    /// Some ACL covers the resource, none of them this request: denied.
    NoMatchingAcl,
    /// No ACL covers the resource at all.
    NoResourceAcls,
}

/// Every ACL by id, and an index by resource for decisions: LITERAL ACLs by
/// (type, name), PREFIXED ACLs by (type, prefix) with the set of prefix
/// lengths in use, so a lookup costs one map probe per distinct prefix
/// length (a handful), whatever the number of ACLs.
#[derive(Clone, Debug, Default)]
pub struct AclIndex {
    by_id: BTreeMap<u128, AclBinding>,
    literal: HashMap<ResourceType, HashMap<String, Vec<(u128, IndexedAcl)>>>,
    prefixed: HashMap<ResourceType, HashMap<String, Vec<(u128, IndexedAcl)>>>,
    /// Per resource type, the byte lengths of its PREFIXED names (with how
    /// many ACLs use each).
    prefix_lengths: HashMap<ResourceType, BTreeMap<usize, usize>>,
}

/// Two indexes are equal when they hold the same ACLs under the same ids.
impl PartialEq for AclIndex {
    fn eq(&self, other: &Self) -> bool {
        self.by_id == other.by_id
    }
}

impl Eq for AclIndex {}

impl AclIndex {
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn get(&self, id: u128) -> Option<&AclBinding> {
        self.by_id.get(&id)
    }

    /// Every ACL with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, &AclBinding)> {
        self.by_id.iter().map(|(id, acl)| (*id, acl))
    }

    /// The id of an ACL equal to `acl`, if one is stored.
    pub fn find(&self, acl: &AclBinding) -> Option<u128> {
        self.by_id
            .iter()
            .find(|(_, stored)| *stored == acl)
            .map(|(id, _)| *id)
    }

    /// Stores `acl` under `id` (replacing what had that id). An ACL whose
    /// host does not parse matches no client (it cannot be created; a log
    /// never holds one).
    pub fn insert(&mut self, id: u128, acl: AclBinding) {
        self.remove(id);
        let indexed = IndexedAcl {
            principal: acl.principal.clone(),
            host: HostMatcher::parse(&acl.host).unwrap_or(HostMatcher::Cidr(
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                33,
            )),
            operation: acl.operation,
            permission: acl.permission,
        };
        let (rt, key) = (acl.resource_type, acl.resource_name.clone());
        if acl.pattern_type == PatternType::Prefixed {
            *self
                .prefix_lengths
                .entry(acl.resource_type)
                .or_default()
                .entry(acl.resource_name.len())
                .or_default() += 1;
            self.prefixed
                .entry(rt)
                .or_default()
                .entry(key)
                .or_default()
                .push((id, indexed));
        } else {
            self.literal
                .entry(rt)
                .or_default()
                .entry(key)
                .or_default()
                .push((id, indexed));
        }
        self.by_id.insert(id, acl);
    }

    /// Removes the ACL with `id`; returns it.
    pub fn remove(&mut self, id: u128) -> Option<AclBinding> {
        let acl = self.by_id.remove(&id)?;
        let map = if acl.pattern_type == PatternType::Prefixed {
            if let Some(lengths) = self.prefix_lengths.get_mut(&acl.resource_type) {
                if let Some(count) = lengths.get_mut(&acl.resource_name.len()) {
                    *count -= 1;
                    if *count == 0 {
                        lengths.remove(&acl.resource_name.len());
                    }
                }
            }
            &mut self.prefixed
        } else {
            &mut self.literal
        };
        if let Some(names) = map.get_mut(&acl.resource_type) {
            if let Some(list) = names.get_mut(acl.resource_name.as_str()) {
                list.retain(|(i, _)| *i != id);
                if list.is_empty() {
                    names.remove(acl.resource_name.as_str());
                }
            }
        }
        Some(acl)
    }

    /// What the ACLs say about `principal` at `host` doing `operation` on
    /// the resource (`resource_type`, `name`).
    pub fn decide(
        &self,
        principal: &str,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> AclMatch {
        let mut found = false;
        let mut allowed = false;
        let mut check = |list: &[(u128, IndexedAcl)]| -> bool {
            for (_, acl) in list {
                found = true;
                if acl.principal != principal && acl.principal != WILDCARD_PRINCIPAL {
                    continue;
                }
                if !acl.host.matches(host) {
                    continue;
                }
                match acl.permission {
                    AclPermission::Deny if acl.operation.deny_covers(operation) => return true,
                    AclPermission::Allow if acl.operation.allow_covers(operation) => allowed = true,
                    _ => {}
                }
            }
            false
        };
        if let Some(literal) = self.literal.get(&resource_type) {
            if let Some(list) = literal.get(name) {
                if check(list) {
                    return AclMatch::Denied;
                }
            }
            if name != WILDCARD {
                if let Some(list) = literal.get(WILDCARD) {
                    if check(list) {
                        return AclMatch::Denied;
                    }
                }
            }
        }
        if let (Some(lengths), Some(prefixed)) = (
            self.prefix_lengths.get(&resource_type),
            self.prefixed.get(&resource_type),
        ) {
            for &len in lengths.keys() {
                if len > name.len() {
                    break;
                }
                let Some(prefix) = name.get(..len) else {
                    continue;
                };
                if let Some(list) = prefixed.get(prefix) {
                    if check(list) {
                        return AclMatch::Denied;
                    }
                }
            }
        }
        if allowed {
            AclMatch::Allowed
        } else if found {
            AclMatch::NoMatchingAcl
        } else {
            AclMatch::NoResourceAcls
        }
    }

    /// Kafka's `authorizeByResourceType`: whether some ALLOW ACL of
    /// `resource_type` (any name) lets `principal` at `host` do `operation`,
    /// and no DENY for all of that type (LITERAL `*`) or for a pattern the
    /// ALLOW's covers stops it. Used where a request is allowed if any
    /// resource of a type is (e.g. a transactional id for idempotence).
    pub fn allows_some_of_type(
        &self,
        principal: &str,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        let applies = |acl: &AclBinding| {
            acl.resource_type == resource_type
                && (acl.principal == principal || acl.principal == WILDCARD_PRINCIPAL)
                && HostMatcher::parse(&acl.host).is_some_and(|h| h.matches(host))
        };
        let denies: Vec<&AclBinding> = self
            .by_id
            .values()
            .filter(|a| {
                applies(a)
                    && a.permission == AclPermission::Deny
                    && a.operation.deny_covers(operation)
            })
            .collect();
        if denies
            .iter()
            .any(|d| d.pattern_type == PatternType::Literal && d.resource_name == WILDCARD)
        {
            return false;
        }
        self.by_id.values().any(|a| {
            applies(a)
                && a.permission == AclPermission::Allow
                && a.operation.allow_covers(operation)
                && !denies.iter().any(|d| {
                    (d.pattern_type == PatternType::Prefixed
                        && a.resource_name.starts_with(&d.resource_name))
                        || (d.pattern_type == PatternType::Literal
                            && a.pattern_type == PatternType::Literal
                            && d.resource_name == a.resource_name)
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        host: &str,
        op: AclOperation,
        perm: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.to_owned(),
            pattern_type: pt,
            principal: principal.to_owned(),
            host: host.to_owned(),
            operation: op,
            permission: perm,
        }
    }

    /// The reference: every ACL looked at, the rules as Kafka's comments state them.
    fn reference(
        acls: &[AclBinding],
        principal: &str,
        host: IpAddr,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
    ) -> AclMatch {
        let covering: Vec<&AclBinding> = acls
            .iter()
            .filter(|a| {
                a.resource_type == rt
                    && match a.pattern_type {
                        PatternType::Literal => a.resource_name == name || a.resource_name == "*",
                        PatternType::Prefixed => name.starts_with(a.resource_name.as_str()),
                        _ => false,
                    }
            })
            .collect();
        let applicable: Vec<&&AclBinding> = covering
            .iter()
            .filter(|a| a.principal == principal || a.principal == "User:*")
            .filter(|a| {
                let h = HostMatcher::parse(&a.host).unwrap();
                h.matches(host)
            })
            .collect();
        let deny = applicable.iter().any(|a| {
            a.permission == AclPermission::Deny
                && (a.operation == op || a.operation == AclOperation::All)
        });
        let allow = applicable.iter().any(|a| {
            a.permission == AclPermission::Allow
                && (a.operation == op
                    || a.operation == AclOperation::All
                    || (op == AclOperation::Describe
                        && [
                            AclOperation::Read,
                            AclOperation::Write,
                            AclOperation::Delete,
                            AclOperation::Alter,
                        ]
                        .contains(&a.operation))
                    || (op == AclOperation::DescribeConfigs
                        && a.operation == AclOperation::AlterConfigs))
        });
        if deny {
            AclMatch::Denied
        } else if allow {
            AclMatch::Allowed
        } else if covering.is_empty() {
            AclMatch::NoResourceAcls
        } else {
            AclMatch::NoMatchingAcl
        }
    }

    fn arb_acl() -> impl Strategy<Value = AclBinding> {
        (
            prop::sample::select(vec![ResourceType::Topic, ResourceType::Group]),
            prop::sample::select(vec!["*", "a", "ab", "abc", "b", "ba", "abd"]),
            prop::sample::select(vec![PatternType::Literal, PatternType::Prefixed]),
            prop::sample::select(vec!["User:alice", "User:bob", "User:*"]),
            prop::sample::select(vec![
                "*",
                "10.0.0.1",
                "10.0.0.2",
                "10.0.0.0/24",
                "10.0.1.0/24",
            ]),
            prop::sample::select(AclOperation::ALL[2..].to_vec()),
            prop::sample::select(vec![AclPermission::Allow, AclPermission::Deny]),
        )
            .prop_map(|(rt, name, pt, p, h, op, perm)| acl(rt, name, pt, p, h, op, perm))
    }

    proptest! {
        #[test]
        fn index_decides_as_the_reference(
            acls in prop::collection::vec(arb_acl(), 0..24),
            removed in prop::collection::vec(0usize..24, 0..6),
            principal in prop::sample::select(vec!["User:alice", "User:bob", "User:carol"]),
            host in prop::sample::select(vec![[10u8, 0, 0, 1], [10, 0, 0, 2], [10, 0, 1, 9], [192, 168, 0, 1]]),
            op in prop::sample::select(AclOperation::ALL[2..].to_vec()),
            rt in prop::sample::select(vec![ResourceType::Topic, ResourceType::Group]),
            name in prop::sample::select(vec!["a", "ab", "abc", "abcd", "b", "ba", "c", "*"]),
        ) {
            let mut index = AclIndex::default();
            for (id, a) in acls.iter().enumerate() {
                index.insert(id as u128, a.clone());
            }
            let mut kept = Vec::new();
            for (id, a) in acls.iter().enumerate() {
                if removed.contains(&id) {
                    let gone = index.remove(id as u128);
                    prop_assert_eq!(gone.as_ref(), Some(a));
                } else {
                    kept.push(a.clone());
                }
            }
            let host = IpAddr::V4(Ipv4Addr::from(host));
            prop_assert_eq!(
                index.decide(principal, host, op, rt, name),
                reference(&kept, principal, host, op, rt, name)
            );
        }
    }

    #[test]
    fn deny_of_read_does_not_deny_describe_but_allow_of_read_implies_it() {
        let mut index = AclIndex::default();
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        index.insert(
            1,
            acl(
                ResourceType::Topic,
                "t",
                PatternType::Literal,
                "User:a",
                "*",
                AclOperation::Read,
                AclPermission::Deny,
            ),
        );
        assert_eq!(
            index.decide(
                "User:a",
                host,
                AclOperation::Describe,
                ResourceType::Topic,
                "t"
            ),
            AclMatch::NoMatchingAcl
        );
        index.insert(
            2,
            acl(
                ResourceType::Topic,
                "t",
                PatternType::Prefixed,
                "User:*",
                "*",
                AclOperation::Write,
                AclPermission::Allow,
            ),
        );
        assert_eq!(
            index.decide(
                "User:a",
                host,
                AclOperation::Describe,
                ResourceType::Topic,
                "t"
            ),
            AclMatch::Allowed
        );
        assert_eq!(
            index.decide("User:a", host, AclOperation::Read, ResourceType::Topic, "t"),
            AclMatch::Denied
        );
        assert_eq!(
            index.decide("User:a", host, AclOperation::Read, ResourceType::Topic, "u"),
            AclMatch::NoResourceAcls
        );
    }

    /// The lookup cost with 10,000 ACLs (run with `cargo test --release -p
    /// strom-metadata -- --ignored acl_lookup_cost --nocapture`): the figure
    /// in ARCHITECTURE.md's Authorization section.
    #[test]
    #[ignore]
    fn acl_lookup_cost_with_ten_thousand_acls() {
        let mut index = AclIndex::default();
        for i in 0..10_000u32 {
            let (name, pt) = match i % 4 {
                0 => (format!("topic-{i}"), PatternType::Literal),
                1 => (format!("team{}-", i % 97), PatternType::Prefixed),
                2 => (format!("group-{i}"), PatternType::Literal),
                _ => (format!("svc{}.", i % 13), PatternType::Prefixed),
            };
            let rt = if i % 4 == 2 {
                ResourceType::Group
            } else {
                ResourceType::Topic
            };
            index.insert(
                u128::from(i) + 1,
                acl(
                    rt,
                    &name,
                    pt,
                    &format!("User:u{}", i % 50),
                    "*",
                    AclOperation::Write,
                    AclPermission::Allow,
                ),
            );
        }
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let names: Vec<String> = (0..1000)
            .map(|i| format!("team{}-orders-{i}", i % 97))
            .collect();
        let start = std::time::Instant::now();
        let mut allowed = 0u32;
        for i in 0..1_000_000usize {
            let name = &names[i % names.len()];
            if index.decide(
                "User:u7",
                host,
                AclOperation::Write,
                ResourceType::Topic,
                name,
            ) == AclMatch::Allowed
            {
                allowed += 1;
            }
        }
        let elapsed = start.elapsed();
        println!(
            "1M decisions over 10,000 ACLs: {elapsed:?} ({} ns each), {allowed} allowed",
            elapsed.as_nanos() / 1_000_000
        );
        assert!(allowed > 0);
    }

    #[test]
    fn cidr_hosts_match_their_block_only() {
        let m = HostMatcher::parse("10.1.0.0/16").unwrap();
        assert!(m.matches("10.1.200.3".parse().unwrap()));
        assert!(!m.matches("10.2.0.1".parse().unwrap()));
        assert!(m.matches("::ffff:10.1.0.1".parse().unwrap()));
        assert!(HostMatcher::parse("10.0.0.0/33").is_none());
        assert!(HostMatcher::parse("example.com").is_none());
    }

    #[test]
    fn filters_match_as_kafka_describes_them() {
        let prefixed = acl(
            ResourceType::Topic,
            "orders-",
            PatternType::Prefixed,
            "User:a",
            "*",
            AclOperation::Read,
            AclPermission::Allow,
        );
        let mut f = AclBindingFilter::any();
        assert!(f.matches(&prefixed));
        f.resource_name = Some("orders-eu".into());
        f.pattern_type = PatternType::Match;
        assert!(f.matches(&prefixed));
        f.pattern_type = PatternType::Any;
        assert!(!f.matches(&prefixed));
        f.resource_name = Some("orders-".into());
        assert!(f.matches(&prefixed));
        f.pattern_type = PatternType::Literal;
        assert!(!f.matches(&prefixed));
    }

    #[test]
    fn new_acls_are_validated_as_kafka_does() {
        let good = acl(
            ResourceType::Cluster,
            "kafka-cluster",
            PatternType::Literal,
            "User:a",
            "*",
            AclOperation::Alter,
            AclPermission::Allow,
        );
        assert_eq!(good.validate(), Ok(()));
        let mut bad = good.clone();
        bad.resource_name = "other".into();
        assert!(bad.validate().unwrap_err().contains("kafka-cluster"));
        let mut bad = good.clone();
        bad.pattern_type = PatternType::Match;
        assert_eq!(bad.validate(), Err("Invalid patternType MATCH".into()));
        let mut bad = good.clone();
        bad.principal = "alice".into();
        assert!(bad.validate().is_err());
        let mut bad = good;
        bad.host = "10.0.0.0/40".into();
        assert!(bad.validate().is_err());
    }
}
