"""The seed demo on a self-hosted machine: instance credentials that appear by
themselves, exchanged for a cloud API's access token (``python -m
examples.instance_to_cloud``)."""
