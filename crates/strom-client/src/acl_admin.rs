//! ACLs (KIP-140): CreateAcls, DescribeAcls and DeleteAcls as Kafka's Admin
//! client sends them. Codes are Kafka's (`ResourceType`, `PatternType`,
//! `AclOperation`, `AclPermissionType`); [`acl_names`] names them.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient};
use crate::error::{Error, ErrorCode};

/// One ACL: a resource pattern and an entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclSpec {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// An ACL filter (DescribeAcls, DeleteAcls): `None` matches anything, as do
/// the ANY codes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclFilterSpec {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

/// Kafka's names for the codes, as kafka-acls.sh prints them.
pub mod acl_names {
    pub const RESOURCE_TYPES: &[(i8, &str)] = &[
        (1, "ANY"),
        (2, "TOPIC"),
        (3, "GROUP"),
        (4, "CLUSTER"),
        (5, "TRANSACTIONAL_ID"),
        (6, "DELEGATION_TOKEN"),
        (7, "USER"),
    ];
    pub const PATTERN_TYPES: &[(i8, &str)] =
        &[(1, "ANY"), (2, "MATCH"), (3, "LITERAL"), (4, "PREFIXED")];
    pub const OPERATIONS: &[(i8, &str)] = &[
        (1, "ANY"),
        (2, "ALL"),
        (3, "READ"),
        (4, "WRITE"),
        (5, "CREATE"),
        (6, "DELETE"),
        (7, "ALTER"),
        (8, "DESCRIBE"),
        (9, "CLUSTER_ACTION"),
        (10, "DESCRIBE_CONFIGS"),
        (11, "ALTER_CONFIGS"),
        (12, "IDEMPOTENT_WRITE"),
        (13, "CREATE_TOKENS"),
        (14, "DESCRIBE_TOKENS"),
    ];
    pub const PERMISSIONS: &[(i8, &str)] = &[(1, "ANY"), (2, "DENY"), (3, "ALLOW")];

    /// The name of `code` in `table`, or `UNKNOWN`.
    pub fn name(table: &[(i8, &'static str)], code: i8) -> &'static str {
        table
            .iter()
            .find(|(c, _)| *c == code)
            .map_or("UNKNOWN", |(_, n)| n)
    }

    /// The code of `name` (any case, `-` or `_`) in `table`.
    pub fn code(table: &[(i8, &str)], name: &str) -> Option<i8> {
        let wanted = name.trim().to_ascii_uppercase().replace('-', "_");
        table.iter().find(|(_, n)| *n == wanted).map(|(c, _)| *c)
    }
}

fn kafka_error(
    api: ApiKey,
    code: i16,
    message: Option<kafka_protocol::protocol::StrBytes>,
) -> Option<Error> {
    ErrorCode::from_code(code).map(|code| Error::Kafka {
        api,
        code,
        message: message.map(|m| m.to_string()),
    })
}

impl AdminClient {
    /// Creates `acls`; one result per ACL, in order.
    pub async fn create_acls(&mut self, acls: &[AclSpec]) -> Result<Vec<Result<(), Error>>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = CreateAclsRequest::default();
                req.creations = acls
                    .iter()
                    .map(|a| {
                        let mut c = AclCreation::default();
                        c.resource_type = a.resource_type;
                        c.resource_name = str_bytes(&a.resource_name);
                        c.resource_pattern_type = a.pattern_type;
                        c.principal = str_bytes(&a.principal);
                        c.host = str_bytes(&a.host);
                        c.operation = a.operation;
                        c.permission_type = a.permission;
                        c
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        if resp.results.len() != acls.len() {
            return Err(Error::Kafka {
                api: ApiKey::CreateAcls,
                code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: Some(format!(
                    "the answer has {} results for {} ACLs",
                    resp.results.len(),
                    acls.len()
                )),
            });
        }
        Ok(resp
            .results
            .into_iter()
            .map(
                |r| match kafka_error(ApiKey::CreateAcls, r.error_code, r.error_message) {
                    Some(e) => Err(e),
                    None => Ok(()),
                },
            )
            .collect())
    }

    /// The ACLs matching `filter`, sorted.
    pub async fn describe_acls(&mut self, filter: &AclFilterSpec) -> Result<Vec<AclSpec>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = DescribeAclsRequest::default();
                req.resource_type_filter = filter.resource_type;
                req.resource_name_filter = filter.resource_name.as_deref().map(str_bytes);
                req.pattern_type_filter = filter.pattern_type;
                req.principal_filter = filter.principal.as_deref().map(str_bytes);
                req.host_filter = filter.host.as_deref().map(str_bytes);
                req.operation = filter.operation;
                req.permission_type = filter.permission;
                Ok(req)
            })
            .await?;
        if let Some(e) = kafka_error(ApiKey::DescribeAcls, resp.error_code, resp.error_message) {
            return Err(e);
        }
        let mut out: Vec<AclSpec> = resp
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().map(move |a| AclSpec {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.to_string(),
                    pattern_type: r.pattern_type,
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: a.operation,
                    permission: a.permission_type,
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes the ACLs matching each filter; per filter, the ACLs deleted.
    pub async fn delete_acls(
        &mut self,
        filters: &[AclFilterSpec],
    ) -> Result<Vec<Result<Vec<AclSpec>, Error>>, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = DeleteAclsRequest::default();
                req.filters = filters
                    .iter()
                    .map(|f| {
                        let mut d = DeleteAclsFilter::default();
                        d.resource_type_filter = f.resource_type;
                        d.resource_name_filter = f.resource_name.as_deref().map(str_bytes);
                        d.pattern_type_filter = f.pattern_type;
                        d.principal_filter = f.principal.as_deref().map(str_bytes);
                        d.host_filter = f.host.as_deref().map(str_bytes);
                        d.operation = f.operation;
                        d.permission_type = f.permission;
                        d
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        Ok(resp
            .filter_results
            .into_iter()
            .map(|r| {
                if let Some(e) = kafka_error(ApiKey::DeleteAcls, r.error_code, r.error_message) {
                    return Err(e);
                }
                Ok(r.matching_acls
                    .into_iter()
                    .filter(|m| m.error_code == 0)
                    .map(|m| AclSpec {
                        resource_type: m.resource_type,
                        resource_name: m.resource_name.to_string(),
                        pattern_type: m.pattern_type,
                        principal: m.principal.to_string(),
                        host: m.host.to_string(),
                        operation: m.operation,
                        permission: m.permission_type,
                    })
                    .collect())
            })
            .collect())
    }
}
