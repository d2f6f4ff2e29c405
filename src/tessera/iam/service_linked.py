"""Service-linked roles: the services Tessera can create one for (service principal
→ role name, the ``/aws-service-role/`` AWS managed policy attached to it, whether a
custom suffix is allowed), the role's path and trust policy, the deletion-task id
format and the deletion-task record. Pure data (the operations are in
``iam/ops_service_linked.py``; the store keeps which roles are service-linked and
the deletion tasks).

Role names and policies are AWS's, from the IAM User Guide's "AWS services that work
with IAM" pages and the service-linked-role pages of each service; every policy named
here is an AWS managed policy of the packaged snapshot (a unit test checks it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tessera.iam.aws_managed import AWS_POLICY_PREFIX

SERVICE_LINKED_PATH_PREFIX: Final = "/aws-service-role/"


@dataclass(frozen=True, slots=True)
class LinkedService:
    """A service that can have a service-linked role."""

    #: the service principal, the AWSServiceName of CreateServiceLinkedRole
    principal: str
    role_name: str
    #: the AWS managed policy (in /aws-service-role/) attached to the role
    policy_name: str
    #: whether CreateServiceLinkedRole accepts CustomSuffix (``<role>_<suffix>``)
    custom_suffix: bool = False

    @property
    def path(self) -> str:
        return f"{SERVICE_LINKED_PATH_PREFIX}{self.principal}/"

    @property
    def policy_arn(self) -> str:
        return f"{AWS_POLICY_PREFIX}aws-service-role/{self.policy_name}"

    def role_name_with(self, suffix: str | None) -> str:
        return self.role_name if suffix is None else f"{self.role_name}_{suffix}"

    def trust_policy(self) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": [self.principal]},
                        "Action": ["sts:AssumeRole"],
                    }
                ],
            },
            separators=(",", ":"),
        )


_S = LinkedService

SERVICES: Final[tuple[LinkedService, ...]] = (
    _S("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling",
       "AutoScalingServiceRolePolicy", custom_suffix=True),
    _S("ecs.amazonaws.com", "AWSServiceRoleForECS", "AmazonECSServiceRolePolicy"),
    _S("eks.amazonaws.com", "AWSServiceRoleForAmazonEKS", "AmazonEKSServiceRolePolicy"),
    _S("eks-nodegroup.amazonaws.com", "AWSServiceRoleForAmazonEKSNodegroup",
       "AWSServiceRoleForAmazonEKSNodegroup"),
    _S("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing",
       "AWSElasticLoadBalancingServiceRolePolicy"),
    _S("rds.amazonaws.com", "AWSServiceRoleForRDS", "AmazonRDSServiceRolePolicy"),
    _S("organizations.amazonaws.com", "AWSServiceRoleForOrganizations",
       "AWSOrganizationsServiceTrustPolicy"),
    _S("sso.amazonaws.com", "AWSServiceRoleForSSO", "AWSSSOServiceRolePolicy"),
    _S("config.amazonaws.com", "AWSServiceRoleForConfig", "AWSConfigServiceRolePolicy"),
    _S("guardduty.amazonaws.com", "AWSServiceRoleForAmazonGuardDuty",
       "AmazonGuardDutyServiceRolePolicy"),
    _S("securityhub.amazonaws.com", "AWSServiceRoleForSecurityHub",
       "AWSSecurityHubServiceRolePolicy"),
    _S("ssm.amazonaws.com", "AWSServiceRoleForAmazonSSM", "AmazonSSMServiceRolePolicy"),
    _S("spot.amazonaws.com", "AWSServiceRoleForEC2Spot", "AWSEC2SpotServiceRolePolicy"),
    _S("spotfleet.amazonaws.com", "AWSServiceRoleForEC2SpotFleet",
       "AWSEC2SpotFleetServiceRolePolicy"),
    _S("es.amazonaws.com", "AWSServiceRoleForAmazonElasticsearchService",
       "AmazonElasticsearchServiceRolePolicy"),
    _S("opensearchservice.amazonaws.com", "AWSServiceRoleForAmazonOpenSearchService",
       "AmazonOpenSearchServiceRolePolicy"),
    _S("access-analyzer.amazonaws.com", "AWSServiceRoleForAccessAnalyzer",
       "AccessAnalyzerServiceRolePolicy"),
    _S("trustedadvisor.amazonaws.com", "AWSServiceRoleForTrustedAdvisor",
       "AWSTrustedAdvisorServiceRolePolicy"),
    _S("support.amazonaws.com", "AWSServiceRoleForSupport", "AWSSupportServiceRolePolicy"),
    _S("cloudtrail.amazonaws.com", "AWSServiceRoleForCloudTrail", "CloudTrailServiceRolePolicy"),
    _S("elasticache.amazonaws.com", "AWSServiceRoleForElastiCache",
       "ElastiCacheServiceRolePolicy"),
    _S("dynamodb.application-autoscaling.amazonaws.com",
       "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
       "AWSApplicationAutoscalingDynamoDBTablePolicy"),
    _S("ecs.application-autoscaling.amazonaws.com",
       "AWSServiceRoleForApplicationAutoScaling_ECSService",
       "AWSApplicationAutoscalingECSServicePolicy"),
    _S("ec2.application-autoscaling.amazonaws.com",
       "AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest",
       "AWSApplicationAutoscalingEC2SpotFleetRequestPolicy"),
    _S("replicator.lambda.amazonaws.com", "AWSServiceRoleForLambdaReplicator",
       "AWSLambdaReplicator"),
    _S("elasticbeanstalk.amazonaws.com", "AWSServiceRoleForElasticBeanstalk",
       "AWSElasticBeanstalkServiceRolePolicy"),
    _S("elasticmapreduce.amazonaws.com", "AWSServiceRoleForEMRCleanup", "AmazonEMRCleanupPolicy"),
    _S("redshift.amazonaws.com", "AWSServiceRoleForRedshift",
       "AmazonRedshiftServiceLinkedRolePolicy"),
    _S("backup.amazonaws.com", "AWSServiceRoleForBackup",
       "AWSBackupServiceLinkedRolePolicyForBackup"),
    _S("inspector2.amazonaws.com", "AWSServiceRoleForAmazonInspector2",
       "AmazonInspector2ServiceRolePolicy"),
    _S("macie.amazonaws.com", "AWSServiceRoleForAmazonMacie", "AmazonMacieServiceRolePolicy"),
    _S("kafka.amazonaws.com", "AWSServiceRoleForKafka", "KafkaServiceRolePolicy"),
    _S("transitgateway.amazonaws.com", "AWSServiceRoleForVPCTransitGateway",
       "AWSVPCTransitGatewayServiceRolePolicy"),
    _S("globalaccelerator.amazonaws.com", "AWSServiceRoleForGlobalAccelerator",
       "AWSGlobalAcceleratorSLRPolicy"),
    _S("ops.apigateway.amazonaws.com", "AWSServiceRoleForAPIGateway",
       "APIGatewayServiceRolePolicy"),
    _S("compute-optimizer.amazonaws.com", "AWSServiceRoleForComputeOptimizer",
       "ComputeOptimizerServiceRolePolicy"),
    _S("fsx.amazonaws.com", "AWSServiceRoleForAmazonFSx", "AmazonFSxServiceRolePolicy"),
    _S("batch.amazonaws.com", "AWSServiceRoleForBatch", "BatchServiceRolePolicy"),
    _S("mq.amazonaws.com", "AWSServiceRoleForAmazonMQ", "AmazonMQServiceRolePolicy"),
    _S("events.amazonaws.com", "AWSServiceRoleForCloudWatchEvents",
       "CloudWatchEventsServiceRolePolicy"),
    _S("lexv2.amazonaws.com", "AWSServiceRoleForLexV2Bots", "AmazonLexV2BotPolicy",
       custom_suffix=True),
)  # fmt: skip

_BY_PRINCIPAL: Final = {s.principal: s for s in SERVICES}


def linked_service(principal: str) -> LinkedService | None:
    """The service whose principal is ``principal`` (exact, lower case), or ``None``."""
    return _BY_PRINCIPAL.get(principal)


# --- deletion tasks ---------------------------------------------------------------------

#: task/aws-service-role/<service principal>/<role name>/<uuid>
_TASK_ID = re.compile(
    r"task/aws-service-role/[\w+=,.@-]+/[\w+=,.@-]+/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def deletion_task_id(principal: str, role_name: str, task_uuid: str) -> str:
    return f"task/aws-service-role/{principal}/{role_name}/{task_uuid}"


def is_deletion_task_id(value: str) -> bool:
    return _TASK_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class DeletionTask:
    """A DeleteServiceLinkedRole request, kept so its status can be asked for."""

    account_id: str
    task_id: str
    role_name: str
    #: SUCCEEDED | IN_PROGRESS | FAILED | NOT_STARTED
    status: str
    created_at: datetime
    #: why a FAILED task failed
    reason: str | None = None
