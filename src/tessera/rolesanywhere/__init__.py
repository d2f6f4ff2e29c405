"""IAM Roles Anywhere on Tessera: trust anchors, profiles, CRLs and subjects (the
REST-JSON ``rolesanywhere`` API) and ``CreateSession``, which trades an X.509
certificate's signature for role credentials."""
