"""``tessera agent``: the client side of IAM Roles Anywhere. It signs CreateSession
with a workload's X.509 certificate (``signer``), calls it (``client``), and hands
the role credentials to SDKs that know nothing of certificates: as a
``credential_process`` (``formats``), through an IMDSv2-compatible endpoint
(``imds``) and through the ECS/EKS-style container endpoint (``container``), both
served on loopback (``httpd``) from an in-memory cache refreshed in the
background (``cache``).

This package sits at the top of the layers (beside ``app``): it may use the pure
core (``auth.sigv4``), ``clock``, ``sensitive`` and ``tls.client``, never the
server (``app``, ``store``, services)."""
