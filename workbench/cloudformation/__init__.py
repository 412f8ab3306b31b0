"""Reading the CloudFormation template: the one description of the topology, used by the local stack and the deploy."""
