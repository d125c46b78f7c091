#!/usr/bin/env python3
"""Expand a SAM template into CloudFormation JSON, offline.

Usage: expand.py TEMPLATE [Name=Value ...]

Runs the AWS SAM translator (the aws-sam-translator package cfn-lint
depends on) the way CloudFormation's AWS::Serverless transform would, but
without calling AWS: managed policy names resolve through a fixed map
instead of IAM's ListPolicies. Parameter values given on the command line
override the template's defaults; parameters without a default must be
given. Local CodeUri paths become S3 URIs first, as `sam package` (or
`sam deploy`) makes them before CloudFormation sees the template. The
CloudFormation JSON goes to stdout.
"""

import json
import os
import sys

# The translator asks boto3 for a region to build ARNs and the partition;
# a fixed one keeps it offline and deterministic.
os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-1")
os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# The managed policies a template may name, by name. SAM attaches
# AWSLambdaBasicExecutionRole itself; the others are what its event sources
# and policy shorthands may add. An unknown name fails the expansion.
MANAGED_POLICIES = {
    name: "arn:aws:iam::aws:policy/service-role/" + name
    for name in (
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaVPCAccessExecutionRole",
        "AWSXrayWriteOnlyAccess",
    )
}


class OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader without IAM."""

    def load(self):
        return dict(MANAGED_POLICIES)


def package_code(template):
    """Replace local CodeUri paths with S3 URIs, as sam package does."""
    def fix(props, name):
        uri = props.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["CodeUri"] = "s3://quotabot-artifacts/%s.zip" % name

    glob = (template.get("Globals") or {}).get("Function")
    if isinstance(glob, dict):
        fix(glob, "Globals")
    for name, res in (template.get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") == "AWS::Serverless::Function":
            props = res.setdefault("Properties", {})
            fix(props, name)
            if "CodeUri" not in props and "InlineCode" not in props:
                props["CodeUri"] = "s3://quotabot-artifacts/%s.zip" % name


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    params = {}
    for arg in argv[2:]:
        name, sep, value = arg.partition("=")
        if not sep:
            sys.stderr.write("parameter %r: want Name=Value\n" % arg)
            return 2
        params[name] = value
    for name, spec in (template.get("Parameters") or {}).items():
        if name not in params:
            if "Default" not in spec:
                sys.stderr.write("parameter %s has no default: give %s=VALUE\n" % (name, name))
                return 2
            params[name] = spec["Default"]
    # Pseudo parameters the translator may resolve; SAM's own defaults
    # (AWS::Region and AWS::Partition come from boto3's region).
    params.setdefault("AWS::AccountId", "123456789012")
    params.setdefault("AWS::StackName", "quotabot")
    params.setdefault("AWS::Region", os.environ["AWS_DEFAULT_REGION"])
    params.setdefault("AWS::Partition", "aws")
    params.setdefault("AWS::URLSuffix", "amazonaws.com")
    package_code(template)
    out = transform(template, params, OfflinePolicyLoader())
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
