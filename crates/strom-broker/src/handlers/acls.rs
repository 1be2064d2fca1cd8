//! CreateAcls, DescribeAcls and DeleteAcls (Kafka's `AclApis`): ALTER on
//! CLUSTER to change ACLs, DESCRIBE on CLUSTER to list them,
//! SECURITY_DISABLED without an authorizer. Changes are decided by the
//! active controller and answered once they are in this broker's image.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use strom_metadata::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

use super::{str_bytes, string};
use crate::authz::Authz;
use crate::broker::BrokerState;

const SECURITY_DISABLED: &str = "No Authorizer is configured.";

fn filter(
    resource_type: i8,
    resource_name: &Option<StrBytes>,
    pattern_type: i8,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: resource_name.as_ref().map(string),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.as_ref().map(string),
        host: host.as_ref().map(string),
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

pub(crate) async fn create(
    state: &BrokerState,
    authz: &Authz<'_>,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let fail_all = |code: i16, message: &str| {
        CreateAclsResponse::default().with_results(
            req.creations
                .iter()
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect(),
        )
    };
    if !authz.cluster(AclOperation::Alter) {
        return fail_all(
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.",
        );
    }
    if !authz.enabled() {
        return fail_all(ResponseError::SecurityDisabled.code(), SECURITY_DISABLED);
    }
    let acls: Vec<AclBinding> = req
        .creations
        .iter()
        .map(|c| AclBinding {
            resource_type: ResourceType::from_code(c.resource_type),
            resource_name: string(&c.resource_name),
            pattern_type: PatternType::from_code(c.resource_pattern_type),
            principal: string(&c.principal),
            host: string(&c.host),
            operation: AclOperation::from_code(c.operation),
            permission: AclPermission::from_code(c.permission_type),
        })
        .collect();
    let results = state.controller.create_acls(acls).await;
    CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => AclCreationResult::default(),
                Err(e) => AclCreationResult::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message()))),
            })
            .collect(),
    )
}

pub(crate) fn describe(
    state: &BrokerState,
    authz: &Authz<'_>,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let error = |code: i16, message: &str| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message)))
    };
    if !authz.cluster(AclOperation::Describe) {
        return error(
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.",
        );
    }
    if !authz.enabled() {
        return error(ResponseError::SecurityDisabled.code(), SECURITY_DISABLED);
    }
    let filter = filter(
        req.resource_type_filter,
        &req.resource_name_filter,
        req.pattern_type_filter,
        &req.principal_filter,
        &req.host_filter,
        req.operation,
        req.permission_type,
    );
    if let Err(message) = filter.validate() {
        return error(ResponseError::InvalidRequest.code(), &message);
    }
    let image = state.image();
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for (_, acl) in image.acls().iter() {
        if filter.matches(acl) {
            by_resource
                .entry((
                    acl.resource_type.code(),
                    acl.resource_name.clone(),
                    acl.pattern_type.code(),
                ))
                .or_default()
                .push(
                    AclDescription::default()
                        .with_principal(str_bytes(&acl.principal))
                        .with_host(str_bytes(&acl.host))
                        .with_operation(acl.operation.code())
                        .with_permission_type(acl.permission.code()),
                );
        }
    }
    DescribeAclsResponse::default().with_resources(
        by_resource
            .into_iter()
            .map(|((rt, name, pt), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(rt)
                    .with_resource_name(str_bytes(&name))
                    .with_pattern_type(pt)
                    .with_acls(acls)
            })
            .collect(),
    )
}

pub(crate) async fn delete(
    state: &BrokerState,
    authz: &Authz<'_>,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let fail_all = |code: i16, message: &str| {
        DeleteAclsResponse::default().with_filter_results(
            req.filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(message)))
                })
                .collect(),
        )
    };
    if !authz.cluster(AclOperation::Alter) {
        return fail_all(
            ResponseError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.",
        );
    }
    if !authz.enabled() {
        return fail_all(ResponseError::SecurityDisabled.code(), SECURITY_DISABLED);
    }
    let filters: Vec<AclBindingFilter> = req
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                &f.resource_name_filter,
                f.pattern_type_filter,
                &f.principal_filter,
                &f.host_filter,
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let results = state.controller.delete_acls(filters).await;
    DeleteAclsResponse::default().with_filter_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(acls) => DeleteAclsFilterResult::default().with_matching_acls(
                    acls.iter()
                        .map(|acl| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(acl.resource_type.code())
                                .with_resource_name(str_bytes(&acl.resource_name))
                                .with_pattern_type(acl.pattern_type.code())
                                .with_principal(str_bytes(&acl.principal))
                                .with_host(str_bytes(&acl.host))
                                .with_operation(acl.operation.code())
                                .with_permission_type(acl.permission.code())
                        })
                        .collect(),
                ),
                Err(e) => DeleteAclsFilterResult::default()
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message()))),
            })
            .collect(),
    )
}
