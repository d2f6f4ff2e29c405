"""IAM: the identity model, the IAM operations and the policy engine (``tessera.iam.policy``)."""
