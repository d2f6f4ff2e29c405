"""Example relying party: exchange a Tessera (or AWS) web identity token for a
short-lived access token via an OAuth 2.0 token endpoint (RFC 7523 client
assertions), verified with ``tessera.verify``. See README.md."""
