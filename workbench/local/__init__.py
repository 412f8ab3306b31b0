"""The local stack: moto and fakesnow servers, and the topology built from the CloudFormation template."""
