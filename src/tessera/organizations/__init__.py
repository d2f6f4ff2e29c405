"""The AWS Organizations API (JSON 1.1, ``AWSOrganizationsV20161128``): its service
logic (``service``), exceptions (``errors``) and operation handlers (``ops_*``),
over the organization data of ``tessera.iam.organizations`` /
``tessera.iam.org_model`` and the ``OrganizationStore``."""
